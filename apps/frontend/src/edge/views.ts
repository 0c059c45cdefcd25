import { errorMessage, payloadMessage } from '@baton/contracts';
import type { RetryPolicy, RunView, StepView, WorkerView } from '@baton/contracts';
import type { RetryPolicy as RetryPolicyMessage, Step, Task, Worker, WorkflowRun } from '@baton/proto';
import { toHttpPayload } from './payloads';

/*
 * Views → wire shapes. gRPC: the generated proto messages (epoch-ms
 * timestamps, bytes payloads; steps through stepMessage in contracts). HTTP:
 * the same field names, ISO timestamps, JSON payload values.
 */

const ms = (d: Date | null | undefined) => (d ? d.getTime() : undefined);
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const isoOfMs = (epochMs: number | undefined) => (epochMs === undefined ? null : new Date(epochMs).toISOString());
const text = (value: string | undefined) => value || null;

function grpcRetry(policy: RetryPolicy | null): RetryPolicyMessage | undefined {
  return policy ? { ...policy, nonRetryableErrors: policy.nonRetryableErrors ?? [] } : undefined;
}

export function runToGrpc(run: RunView): WorkflowRun {
  return {
    id: run.id,
    namespace: run.namespace,
    queue: run.queue,
    workflowType: run.workflowType,
    status: run.status,
    externalId: run.externalId ?? '',
    attempt: run.attempt,
    claims: run.claims,
    retry: grpcRetry(run.retryPolicy),
    input: payloadMessage(run.input),
    output: payloadMessage(run.output),
    error: errorMessage(run.error),
    correlationId: run.correlationId ?? '',
    traceId: run.traceId ?? '',
    scheduleId: run.scheduleId ?? '',
    fireTimeMs: ms(run.fireTime),
    lockedBy: run.lockedBy ?? '',
    leaseEpoch: run.leaseEpoch,
    lockedUntilMs: ms(run.lockedUntil),
    availableAtMs: run.availableAt.getTime(),
    wakeUpAtMs: ms(run.wakeUpAt),
    deadlineAtMs: ms(run.deadlineAt),
    createdAtMs: run.createdAt.getTime(),
    startedAtMs: ms(run.startedAt),
    finishedAtMs: ms(run.finishedAt),
    updatedAtMs: run.updatedAt.getTime(),
    parentRunId: run.parentRunId ?? '',
    parentStepId: run.parentStepId ?? '',
    priority: run.priority,
    concurrency: run.concurrency ?? undefined,
  };
}

export function runToHttp(run: RunView) {
  return {
    id: run.id,
    namespace: run.namespace,
    queue: run.queue,
    workflowType: run.workflowType,
    status: run.status,
    externalId: run.externalId,
    attempt: run.attempt,
    claims: run.claims,
    retry: run.retryPolicy,
    ...toHttpPayload(run.input, 'input'),
    ...toHttpPayload(run.output, 'output'),
    error: run.error,
    correlationId: run.correlationId,
    traceId: run.traceId,
    scheduleId: run.scheduleId,
    fireTime: iso(run.fireTime),
    lockedBy: run.lockedBy,
    leaseEpoch: run.leaseEpoch,
    lockedUntil: iso(run.lockedUntil),
    availableAt: iso(run.availableAt),
    wakeUpAt: iso(run.wakeUpAt),
    deadlineAt: iso(run.deadlineAt),
    createdAt: iso(run.createdAt),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
    updatedAt: iso(run.updatedAt),
    parentRunId: run.parentRunId ?? null,
    parentStepId: run.parentStepId ?? null,
    priority: run.priority,
    concurrency: run.concurrency,
  };
}

export function stepToHttp(step: StepView) {
  return {
    runId: step.runId,
    stepId: step.stepId,
    seq: step.seq,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt,
    ...toHttpPayload(step.output, 'output'),
    error: step.error,
    final: step.final,
    retryAt: iso(step.retryAt),
    wakeUpAt: iso(step.wakeUpAt),
    startedAt: iso(step.startedAt),
    finishedAt: iso(step.finishedAt),
    childRunId: step.childRunId ?? null,
  };
}

export function workerToGrpc(worker: WorkerView): Worker {
  return {
    id: worker.id,
    namespace: worker.namespace,
    queue: worker.queue,
    hostname: worker.hostname,
    pid: worker.pid,
    version: worker.version,
    workflowTypes: worker.workflowTypes,
    maxConcurrent: worker.maxConcurrent,
    typeConcurrency: worker.typeConcurrency,
    labels: worker.labels,
    status: worker.status,
    activeCount: worker.activeCount,
    registeredAtMs: worker.registeredAt.getTime(),
    lastHeartbeatAtMs: worker.lastHeartbeatAt.getTime(),
  };
}

export function workerToHttp(worker: WorkerView) {
  return {
    ...worker,
    registeredAt: iso(worker.registeredAt),
    lastHeartbeatAt: iso(worker.lastHeartbeatAt),
  };
}

/** A history step of a task handed out over HTTP: the fields and forms of stepToHttp. */
function taskStepToHttp(step: Step) {
  return {
    runId: step.runId,
    stepId: step.stepId,
    seq: step.seq ?? 0,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt ?? 0,
    ...toHttpPayload(step.output, 'output'),
    error: step.error
      ? { message: step.error.message ?? '', type: text(step.error.type), stack: text(step.error.stack) }
      : null,
    final: !!step.final,
    retryAt: isoOfMs(step.retryAtMs),
    wakeUpAt: isoOfMs(step.wakeUpAtMs),
    startedAt: isoOfMs(step.startedAtMs),
    finishedAt: isoOfMs(step.finishedAtMs),
    childRunId: text(step.childRunId),
  };
}

/**
 * The task PollTask hands out, as the HTTP worker protocol shows it: the one
 * place the claim's lease token is shown, to the worker that claimed it.
 */
export function taskToHttp(task: Task) {
  return {
    runId: task.runId,
    namespace: task.namespace,
    queue: task.queue,
    workflowType: task.workflowType,
    ...toHttpPayload(task.input, 'input'),
    attempt: task.attempt ?? 0,
    leaseEpoch: task.leaseEpoch,
    leaseToken: task.leaseToken,
    deadlineAt: isoOfMs(task.deadlineAtMs),
    correlationId: text(task.correlationId),
    traceId: text(task.traceId),
    traceparent: text(task.traceparent),
    history: (task.history ?? []).map(taskStepToHttp),
  };
}
