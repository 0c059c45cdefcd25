import { payloadMessage, stepMessage } from '@baton/contracts';
import type { PollReply, StepView } from '@baton/contracts';
import type { ClaimedRun } from '@baton/persistence';
import { taskToBus } from '@baton/proto';
import type { Task } from '@baton/proto';

/**
 * NATS servers refuse messages over their max_payload (1 MiB by default); a
 * task that would not fit travels without payloads and the frontend loads them.
 */
const INLINE_BUDGET_BYTES = 768 * 1024;

/** The claimed run as the worker will receive it: the generated `Task` message. */
export function assembleTask(namespace: string, queue: string, run: ClaimedRun, history: StepView[]): Task {
  return {
    runId: run.runId,
    namespace,
    queue,
    workflowType: run.workflowType,
    input: payloadMessage(run.input),
    attempt: run.attempt,
    leaseEpoch: run.leaseEpoch,
    deadlineAtMs: run.deadlineAt?.getTime(),
    correlationId: run.correlationId ?? undefined,
    traceId: run.traceId ?? undefined,
    history: history.map(stepMessage),
  };
}

/** The poll's answer on the bus: the task, without its payloads if they would not fit a NATS message. */
export function taskReply(task: Task): PollReply {
  const inlineBytes =
    (task.input?.data?.length ?? 0) +
    (task.history ?? []).reduce((sum, step) => sum + (step.output?.data?.length ?? 0), 0);
  // base64 grows bytes by 4/3.
  if ((inlineBytes * 4) / 3 > INLINE_BUDGET_BYTES) {
    return { task: taskToBus({ ...task, input: undefined, history: [] }), payloadsOmitted: true };
  }
  return { task: taskToBus(task) };
}
