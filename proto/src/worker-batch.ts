import type { WorkerCall } from './generated/baton/v1/worker';
import type { UnaryMethod } from './services';

/**
 * The WorkerService RPCs a Batch call may carry, each by its field in
 * WorkerCall (and in WorkerCallOutcome, which answers with the same name).
 */
export const WORKER_BATCH_CALLS = {
  BeginStep: 'beginStep',
  CompleteStep: 'completeStep',
  FailStep: 'failStep',
  Sleep: 'sleep',
  CompleteWorkflow: 'completeWorkflow',
  FailWorkflow: 'failWorkflow',
} as const satisfies Partial<Record<UnaryMethod<'worker'>, keyof WorkerCall>>;

export type BatchableWorkerMethod = keyof typeof WORKER_BATCH_CALLS;

export function isBatchableWorkerMethod(method: string): method is BatchableWorkerMethod {
  return Object.hasOwn(WORKER_BATCH_CALLS, method);
}
