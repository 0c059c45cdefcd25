import type { StepView, WireHistoryStep, WirePayload, WireTask } from '@baton/contracts';
import type { ClaimedRun } from '@baton/persistence';
import type { Payload } from '@baton/contracts';

/**
 * NATS servers refuse messages over their max_payload (1 MiB by default); a
 * task that would not fit travels without payloads and the frontend loads them.
 */
const INLINE_BUDGET_BYTES = 768 * 1024;

export function toWirePayload(payload: Payload | null): WirePayload | null {
  return payload ? { data: payload.data.toString('base64'), encoding: payload.encoding } : null;
}

export function toWireStep(step: StepView): WireHistoryStep {
  return {
    stepId: step.stepId,
    seq: step.seq,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt,
    output: toWirePayload(step.output),
    error: step.error
      ? { message: step.error.message, type: step.error.type ?? null, stack: step.error.stack ?? null }
      : null,
    final: step.final,
    retryAt: step.retryAt?.getTime() ?? null,
    wakeUpAt: step.wakeUpAt?.getTime() ?? null,
  };
}

export function assembleTask(namespace: string, queue: string, run: ClaimedRun, history: StepView[]): WireTask {
  const task: WireTask = {
    runId: run.runId,
    namespace,
    queue,
    workflowType: run.workflowType,
    attempt: run.attempt,
    leaseEpoch: run.leaseEpoch,
    deadlineAt: run.deadlineAt?.getTime() ?? null,
    correlationId: run.correlationId,
    traceId: run.traceId,
    input: toWirePayload(run.input),
    history: history.map(toWireStep),
    payloadsOmitted: false,
  };
  const inlineBytes =
    (run.input?.data.length ?? 0) + history.reduce((sum, step) => sum + (step.output?.data.length ?? 0), 0);
  // base64 grows bytes by 4/3.
  if ((inlineBytes * 4) / 3 > INLINE_BUDGET_BYTES) {
    return { ...task, input: null, history: [], payloadsOmitted: true };
  }
  return task;
}
