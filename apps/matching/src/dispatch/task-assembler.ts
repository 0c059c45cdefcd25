import { payloadMessage, stepMessage } from '@baton/contracts';
import type { PollReply, PolledTask, StepView } from '@baton/contracts';
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
    leaseToken: run.leaseToken,
    deadlineAtMs: run.deadlineAt?.getTime(),
    correlationId: run.correlationId ?? undefined,
    traceId: run.traceId ?? undefined,
    traceparent: run.traceparent ?? undefined,
    history: history.map(stepMessage),
  };
}

/**
 * The poll's answer on the bus: the first task in `task`, the others in
 * `moreTasks`. Payloads travel inline while the reply stays within what a
 * NATS message holds; a task that would overflow it travels without them.
 */
export function pollReply(tasks: readonly Task[]): PollReply {
  let budget = INLINE_BUDGET_BYTES;
  const polled = tasks.map((task): PolledTask => {
    const inlineBytes =
      (task.input?.data?.length ?? 0) +
      (task.history ?? []).reduce((sum, step) => sum + (step.output?.data?.length ?? 0), 0);
    // base64 grows bytes by 4/3.
    const wireBytes = (inlineBytes * 4) / 3;
    if (wireBytes > budget)
      return { task: taskToBus({ ...task, input: undefined, history: [] }), payloadsOmitted: true };
    budget -= wireBytes;
    return { task: taskToBus(task) };
  });
  const [first, ...more] = polled;
  if (!first) return {};
  return { ...first, ...(more.length > 0 ? { moreTasks: more } : {}) };
}
