import { BatonError, checkName, describeValue } from '@baton/contracts';
import type { Duration } from '@baton/contracts';
import type { StartedRun } from './client';
import type { WorkflowRun } from './views';
import type { WorkflowHandler } from './worker';

/**
 * A workflow type and its handler, typed end to end: `worker.register(def)`
 * runs it, `client.start(def, input)` checks the input against the handler's
 * and returns a {@link RunHandle} whose `result()` has the handler's output
 * type. Made by {@link defineWorkflow}.
 */
export interface WorkflowDefinition<TInput = unknown, TOutput = unknown> {
  /** The workflow type: the name the server, the string API and the other languages' tools know it by. */
  readonly workflowType: string;
  /** What the worker runs for each run of this type. */
  readonly handler: WorkflowHandler<TInput, TOutput>;
}

/**
 * A run started from a {@link WorkflowDefinition}: what `client.start` returns
 * for a string type, plus `result()` typed by the definition's handler.
 */
export interface RunHandle<TInput = unknown, TOutput = unknown> extends StartedRun {
  /** The run as the start left it (PENDING, or the live run an `externalId` matched). */
  readonly run: WorkflowRun<TInput, TOutput>;
  /**
   * Waits for the run to finish and returns its output: what the handler
   * returned, as JSON carried it (a `Date` comes back as its ISO string).
   *
   * @throws {@link WorkflowFailedError} when the run FAILED (its error's message, type and stack).
   * @throws {@link WorkflowCancelledError} when it was CANCELLED.
   * @throws {@link WorkflowTerminatedError} when an operator TERMINATED it.
   * @throws Error when `timeout` passes first (the run goes on); and {@link BatonError} as `client.result` does.
   */
  result(options?: { timeout?: Duration }): Promise<TOutput>;
}

/**
 * Defines a workflow type with its handler, so that the worker and the client
 * share one typed definition instead of a string:
 *
 * ```ts
 * export const order = defineWorkflow('order', async (ctx, input: { amount: number }) => {
 *   const charged = await ctx.step('charge', () => charge(input.amount));
 *   return { charged };
 * });
 *
 * worker.register(order);
 * const run = await client.start(order, { amount: 42 }, { queue: 'orders' });
 * const { charged } = await run.result(); // typed by the handler's return type
 * ```
 *
 * The string API (`worker.register('order', fn)`, `client.start('order', …)`)
 * stays as it is; both name the same workflow type on the server.
 *
 * @throws {@link BatonError} INVALID_ARGUMENT (field `workflowType`) when the
 *   name is empty, not a string or too long, and (field `handler`) when the
 *   handler is not a function.
 */
export function defineWorkflow<TInput, TOutput>(
  workflowType: string,
  handler: WorkflowHandler<TInput, TOutput>,
): WorkflowDefinition<TInput, TOutput> {
  checkName(workflowType, 'workflowType');
  if (typeof handler !== 'function') {
    throw BatonError.invalid('handler', `handler must be a function (got ${describeValue(handler)})`);
  }
  return Object.freeze({ workflowType, handler });
}

/** A definition made by defineWorkflow, as opposed to a workflow type's name. */
export function isWorkflowDefinition(value: unknown): value is WorkflowDefinition<never, unknown> {
  return typeof value === 'object' && value !== null && 'workflowType' in value && 'handler' in value;
}
