import type { RetryPolicy, RunStatus, StepKind, StepStatus, WorkerStatus } from '@baton/contracts';
import type { ErrorInfo, Step, Worker as WorkerMessage, WorkflowRun as WorkflowRunMessage } from '@baton/proto';
import { decodePayload } from './payload';

/** A workflow run as the client sees it: payloads decoded, timestamps as Dates. */
export interface WorkflowRun<TInput = unknown, TOutput = unknown> {
  /** The run's id. */
  id: string;
  /** Its namespace. */
  namespace: string;
  /** The task queue whose workers run it. */
  queue: string;
  /** Its workflow type. */
  workflowType: string;
  /** PENDING, RUNNING, SLEEPING, COMPLETED, FAILED, CANCELLED or TERMINATED. */
  status: RunStatus;
  /** The idempotency key it was started with; null without one. */
  externalId: string | null;
  /** Its attempt, from 1 (workflow-level retries add one). */
  attempt: number;
  /** How many times a worker claimed it (a replay after a crash or a sleep is another claim). */
  claims: number;
  /** The retry policy it was started with; null: the server's default. */
  retry: RetryPolicy | null;
  /** The input it was started with. */
  input: TInput;
  /** What its handler returned, once COMPLETED. */
  output: TOutput;
  /** Why it FAILED or was TERMINATED; null otherwise. */
  error: { message: string; type: string | null; stack: string | null; nonRetryable: boolean } | null;
  /** The `correlationId` it was started with; null without one. */
  correlationId: string | null;
  /** The `traceId` it was started with; null without one. */
  traceId: string | null;
  /** The schedule that started it; null when started otherwise. */
  scheduleId: string | null;
  /** The worker holding it while RUNNING; null otherwise. */
  lockedBy: string | null;
  /** Increases with every claim: which claim the current holder's lease belongs to. */
  leaseEpoch: number;
  /** When the holder's lease runs out unless renewed; null when nobody holds it. */
  lockedUntil: Date | null;
  /** When it may next be claimed (a retry's backoff moves it on). */
  availableAt: Date;
  /** When a SLEEPING run wakes; null otherwise. */
  wakeUpAt: Date | null;
  /** When it fails with DEADLINE_EXCEEDED (its `timeout`); null without one. */
  deadlineAt: Date | null;
  /** When it was started. */
  createdAt: Date;
  /** When a worker first claimed it; null before. */
  startedAt: Date | null;
  /** When it finished; null while live. */
  finishedAt: Date | null;
  /** When its row last changed. */
  updatedAt: Date;
  /** A child run (ctx.child): the run that started it, and that run's CHILD step; null otherwise. */
  parentRunId: string | null;
  parentStepId: string | null;
  /** Higher is claimed first, FIFO within one priority; 0 unless the start said otherwise. */
  priority: number;
  /** The run's concurrency key and its limit; null when it has none. */
  concurrency: { key: string; limit: number } | null;
}

/** A step of a run as recorded (`client.steps`): a `ctx.step`, sleep, signal wait or child. */
export interface StepRecord {
  /** The run it belongs to. */
  runId: string;
  /** Its id, as the workflow named it (or the default id of a sleep, wait or child). */
  stepId: string;
  /** Its position in the run, in call order. */
  seq: number;
  /** FUNCTION (`ctx.step`), SLEEP, SIGNAL or CHILD. */
  kind: StepKind;
  /** RUNNING, COMPLETED or FAILED (an attempt failed: `retryAt` while a retry is due, `final` once none is left). */
  status: StepStatus;
  /** Its attempt, from 1. */
  attempt: number;
  /** What it returned (a signal's payload, a child's output), once COMPLETED. */
  output: unknown;
  /** Its last error; null when none. */
  error: { message: string; type: string | null; stack: string | null } | null;
  /** Failed for good: no retry is left. */
  final: boolean;
  /** When its next attempt runs, while it waits for a retry. */
  retryAt: Date | null;
  /** When a SLEEP (or a timed signal wait) ends. */
  wakeUpAt: Date | null;
  /** When it started. */
  startedAt: Date;
  /** When it finished; null while it has not. */
  finishedAt: Date | null;
  /** A CHILD step: the child run it started. */
  childRunId: string | null;
}

/** A registered worker as the server sees it (`client.workers`). */
export interface WorkerInfo {
  /** The id the server gave it when it registered. */
  id: string;
  /** The namespace it takes runs of. */
  namespace: string;
  /** The task queue it polls. */
  queue: string;
  /** Its `hostname` option. */
  hostname: string;
  /** Its `pid` option. */
  pid: number;
  /** The workflow types it registered. */
  workflowTypes: string[];
  /** Most runs it holds at once. */
  maxConcurrent: number;
  /** ONLINE, DRAINING or OFFLINE (deregistered, or silent past the stale threshold). */
  status: WorkerStatus;
  /** How many runs it held at its last heartbeat. */
  activeCount: number;
  /** When its last heartbeat arrived. */
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
