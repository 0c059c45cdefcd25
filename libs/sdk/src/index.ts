/**
 * Baton SDK.
 *
 * ```ts
 * import { Client, Worker } from '@baton/sdk';
 *
 * const worker = new Worker({ address: 'localhost:50051', queue: 'orders' });
 * worker.register('order', async (ctx, input: { amount: number }) => {
 *   const charged = await ctx.step('charge', () => charge(input.amount));
 *   await ctx.sleep('cool-off', '24h');
 *   return { charged };
 * });
 * await worker.start();
 *
 * const client = new Client({ address: 'localhost:50051' });
 * const run = await client.start('order', { amount: 42 }, { queue: 'orders' });
 * console.log(await client.result(run.id));
 * ```
 */
export { Client } from './client';
export type { ClientOptions, StartOptions, StartedRun, ListOptions } from './client';
export { Schedules } from './schedules';
export type { Schedule, ScheduleOptions } from './schedules';
export { RateLimits } from './rate-limits';
export type { RateLimit, RateLimitOptions, RateLimitTarget } from './rate-limits';
export { Admin } from './admin';
export type { ApiKey, ApiKeyRole, CreateApiKeyOptions, CreatedApiKey, QueueSummary } from './admin';
export { Worker } from './worker';
export type { WorkerOptions, WorkflowHandler } from './worker';
export { defineWorkflow } from './workflows';
export type { RunHandle, WorkflowDefinition } from './workflows';
export { WorkflowContext } from './context';
export type { StepOptions } from './context';
export type { WaitForSignalOptions } from './context';
export { ChildHandle } from './children';
export type { ChildOptions } from './children';
export type { SignalOptions, SignalSent, SignalTarget } from './signals';
export { replayHistories, fetchHistories } from './replay';
export type {
  RecordedHistory,
  RecordedStep,
  ReplayOptions,
  ReplayReport,
  ReplayResult,
  ReplayFinding,
  FetchHistoriesOptions,
} from './replay';
export type { NonDeterminismDetail, StepCall } from './errors';
export {
  BatonError,
  ErrorCode,
  ErrorReason,
  NonRetryableError,
  WorkflowFailedError,
  WorkflowCancelledError,
  WorkflowTerminatedError,
  StepFailedError,
  ChildWorkflowFailedError,
  ChildWorkflowCancelledError,
  NonDeterminismError,
  DeadlineExceededError,
  CancelledError,
  RunAbandonedError,
  WorkerStoppedError,
} from './errors';
export type { WorkflowRun, StepRecord, WorkerInfo } from './views';
export type { ResetOptions, RunHistoryEvent } from './operator';
export type { RetryPolicy, Duration } from '@baton/contracts';
export type { RetryOptions } from './retry-options';
export { Transport } from './transport';
export type { ConnectionOptions, TlsOptions } from './transport';
