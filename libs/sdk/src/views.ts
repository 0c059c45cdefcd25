import type { RetryPolicy, RunStatus, StepKind, StepStatus, WorkerStatus } from '@baton/contracts';
import type { ErrorInfo, Step, Worker as WorkerMessage, WorkflowRun as WorkflowRunMessage } from '@baton/proto';
import { decodePayload } from './payload';

/** A workflow run as the client sees it: payloads decoded, timestamps as Dates. */
export interface WorkflowRun<TInput = unknown, TOutput = unknown> {
  id: string;
  namespace: string;
  queue: string;
  workflowType: string;
  status: RunStatus;
  externalId: string | null;
  attempt: number;
  claims: number;
  retry: RetryPolicy | null;
  input: TInput;
  output: TOutput;
  error: { message: string; type: string | null; stack: string | null; nonRetryable: boolean } | null;
  correlationId: string | null;
  traceId: string | null;
  scheduleId: string | null;
  lockedBy: string | null;
  leaseEpoch: number;
  lockedUntil: Date | null;
  availableAt: Date;
  wakeUpAt: Date | null;
  deadlineAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
  /** A child run (ctx.child): the run that started it, and that run's CHILD step; null otherwise. */
  parentRunId: string | null;
  parentStepId: string | null;
  /** Higher is claimed first, FIFO within one priority; 0 unless the start said otherwise. */
  priority: number;
  /** The run's concurrency key and its limit; null when it has none. */
  concurrency: { key: string; limit: number } | null;
}

export interface StepRecord {
  runId: string;
  stepId: string;
  seq: number;
  kind: StepKind;
  status: StepStatus;
  attempt: number;
  output: unknown;
  error: { message: string; type: string | null; stack: string | null } | null;
  final: boolean;
  retryAt: Date | null;
  wakeUpAt: Date | null;
  startedAt: Date;
  finishedAt: Date | null;
  /** A CHILD step: the child run it started. */
  childRunId: string | null;
}

export interface WorkerInfo {
  id: string;
  namespace: string;
  queue: string;
  hostname: string;
  pid: number;
  workflowTypes: string[];
  maxConcurrent: number;
  status: WorkerStatus;
  activeCount: number;
  lastHeartbeatAt: Date;
}

const date = (ms: number | undefined) => (ms === undefined ? null : new Date(ms));
const text = (s: string | undefined) => (s ? s : null);

function errorOf(e: ErrorInfo | undefined) {
  return e
    ? { message: e.message ?? '', type: text(e.type), stack: text(e.stack), nonRetryable: !!e.nonRetryable }
    : null;
}

/*
 * The server sets the fields a view needs (ids, names, statuses, timestamps);
 * the wire leaves a field out only when it is empty or zero, which is what a
 * missing one reads as here.
 */

export function runFromWire<TInput = unknown, TOutput = unknown>(
  m: WorkflowRunMessage | undefined = {},
): WorkflowRun<TInput, TOutput> {
  return {
    id: m.id ?? '',
    namespace: m.namespace ?? '',
    queue: m.queue ?? '',
    workflowType: m.workflowType ?? '',
    status: m.status as RunStatus,
    externalId: text(m.externalId),
    attempt: m.attempt ?? 0,
    claims: m.claims ?? 0,
    retry: m.retry ?? null,
    input: decodePayload<TInput>(m.input),
    output: decodePayload<TOutput>(m.output),
    error: errorOf(m.error),
    correlationId: text(m.correlationId),
    traceId: text(m.traceId),
    scheduleId: text(m.scheduleId),
    lockedBy: text(m.lockedBy),
    leaseEpoch: m.leaseEpoch ?? 0,
    lockedUntil: date(m.lockedUntilMs),
    availableAt: new Date(m.availableAtMs ?? 0),
    wakeUpAt: date(m.wakeUpAtMs),
    deadlineAt: date(m.deadlineAtMs),
    createdAt: new Date(m.createdAtMs ?? 0),
    startedAt: date(m.startedAtMs),
    finishedAt: date(m.finishedAtMs),
    updatedAt: new Date(m.updatedAtMs ?? 0),
    parentRunId: text(m.parentRunId),
    parentStepId: text(m.parentStepId),
    priority: m.priority ?? 0,
    concurrency: m.concurrency?.key ? { key: m.concurrency.key, limit: m.concurrency.limit ?? 0 } : null,
  };
}

export function stepFromWire(m: Step): StepRecord {
  return {
    runId: m.runId ?? '',
    stepId: m.stepId ?? '',
    seq: m.seq ?? 0,
    kind: m.kind as StepKind,
    status: m.status as StepStatus,
    attempt: m.attempt ?? 0,
    output: decodePayload(m.output),
    error: errorOf(m.error),
    final: !!m.final,
    retryAt: date(m.retryAtMs),
    wakeUpAt: date(m.wakeUpAtMs),
    startedAt: new Date(m.startedAtMs ?? 0),
    finishedAt: date(m.finishedAtMs),
    childRunId: text(m.childRunId),
  };
}

export function workerFromWire(m: WorkerMessage): WorkerInfo {
  return {
    id: m.id ?? '',
    namespace: m.namespace ?? '',
    queue: m.queue ?? '',
    hostname: m.hostname ?? '',
    pid: m.pid ?? 0,
    workflowTypes: m.workflowTypes ?? [],
    maxConcurrent: m.maxConcurrent ?? 0,
    status: m.status as WorkerStatus,
    activeCount: m.activeCount ?? 0,
    lastHeartbeatAt: new Date(m.lastHeartbeatAtMs ?? 0),
  };
}
