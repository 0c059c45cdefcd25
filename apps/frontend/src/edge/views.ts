import type { ErrorInfo, RetryPolicy, RunView, StepView, WorkerView } from '@baton/contracts';
import { toGrpcPayload, toHttpPayload } from './payloads';

/*
 * Views → wire shapes. gRPC: the proto messages (epoch-ms timestamps, bytes
 * payloads). HTTP: the same field names, ISO timestamps, JSON payload values.
 */

const ms = (d: Date | null | undefined) => (d ? d.getTime() : undefined);
const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function grpcError(error: ErrorInfo | null) {
  return error
    ? { message: error.message, type: error.type ?? '', stack: error.stack ?? '', nonRetryable: !!error.nonRetryable }
    : undefined;
}

function grpcRetry(policy: RetryPolicy | null) {
  return policy ? { ...policy, nonRetryableErrors: policy.nonRetryableErrors ?? [] } : undefined;
}

export function runToGrpc(run: RunView) {
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
    input: toGrpcPayload(run.input),
    output: toGrpcPayload(run.output),
    error: grpcError(run.error),
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
  };
}

export function stepToGrpc(step: StepView) {
  return {
    runId: step.runId,
    stepId: step.stepId,
    seq: step.seq,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt,
    output: toGrpcPayload(step.output),
    error: grpcError(step.error),
    final: step.final,
    retryAtMs: ms(step.retryAt),
    wakeUpAtMs: ms(step.wakeUpAt),
    startedAtMs: step.startedAt.getTime(),
    finishedAtMs: ms(step.finishedAt),
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
  };
}

export function workerToGrpc(worker: WorkerView) {
  return {
    ...worker,
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
