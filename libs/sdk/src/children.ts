import { createHash } from 'node:crypto';
import { CHILD_CANCELLED_ERROR_TYPE, CHILD_LIMITS, LIMITS, parseDuration } from '@baton/contracts';
import type { Duration } from '@baton/contracts';
import type { StartChildRequest, StartChildResponse, Step } from '@baton/proto';
import { ChildWorkflowCancelledError, ChildWorkflowFailedError } from './errors';
import { decodePayload, encodePayload } from './payload';
import { toRetryPolicy } from './retry-options';
import type { RetryOptions } from './retry-options';
import { checkOptions } from './schedules';

/** Options of `ctx.child`. */
export interface ChildOptions {
  /** The child's task queue. Default: the parent's. */
  queue?: string;
  /** The child run's retry policy (as `client.start`'s). */
  retry?: RetryOptions;
  /** Deadline for the child run; past it the child fails with DEADLINE_EXCEEDED. */
  timeout?: Duration;
  /** Idempotency key of the child run (unique among live runs of the namespace, as `client.start`'s). */
  externalId?: string;
  /**
   * Whether cancelling the parent cancels this child (and what it started,
   * likewise). Default true; false lets the child run on to its own end.
   */
  cancelWithParent?: boolean;
  /** The CHILD step's id. Default `child:<workflowType>#<n>`: the n-th child of that type started without one. */
  stepId?: string;
}

const CHILD_OPTIONS: ReadonlyArray<keyof ChildOptions> = [
  'queue',
  'retry',
  'timeout',
  'externalId',
  'cancelWithParent',
  'stepId',
];

/**
 * The default step id of the n-th (from 1) child of `workflowType` started
 * without one: deterministic, since a replay starts the same children in the
 * same order. A type too long to fit a step id is named by its hash.
 */
export function childStepId(workflowType: string, n: number): string {
  const id = `child:${workflowType}#${n}`;
  if (Buffer.byteLength(id, 'utf8') <= LIMITS.nameBytes) return id;
  return `child:${createHash('sha256').update(workflowType).digest('hex').slice(0, 32)}#${n}`;
}

/** StartChild's request for one child, without the lease and what each call decides (park, awaiting). */
export type ChildRequest = Omit<StartChildRequest, 'lease' | 'park' | 'awaiting'>;

/** The request fields the options make (checked here: a malformed option is the workflow's own bug). */
export function childRequestFields(
  workflowType: string,
  input: unknown,
  options: ChildOptions,
): Omit<ChildRequest, 'stepId' | 'seq'> {
  checkOptions(options, CHILD_OPTIONS, 'options');
  return {
    workflowType,
    input: encodePayload(input),
    queue: options.queue ?? '',
    retry: toRetryPolicy(options.retry),
    timeoutMs: options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout'),
    externalId: options.externalId ?? '',
    cancelWithParent: options.cancelWithParent ?? true,
  };
}

/** What the context lends ChildCalls. */
export interface ChildHooks {
  /**
   * One StartChild, after the completed steps before it are recorded; with
   * `park`, a call that may park the run (the context then stops itself
   * before the reply settles, and throws its Suspension).
   */
  send(request: StartChildRequest, park: boolean): Promise<StartChildResponse>;
  /** Why the context stopped (parked, lost, cancelled), if it has. */
  stopped(): Error | null;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Rejections reach whoever awaits; one nobody awaits (a child never awaited) is no crash.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One ctx.child call of this execution. */
interface ChildState {
  request: ChildRequest;
  /** The child exists (this execution's StartChild answered, or the history records the step). */
  started: boolean;
  /** The workflow awaits its outcome (then() was called). */
  awaited: boolean;
  runId: Deferred<string>;
  result: Deferred<unknown>;
}

/**
 * A started child workflow: await it for its output (or its error, as
 * ChildWorkflowFailedError / ChildWorkflowCancelledError). It is started
 * whether or not it is awaited; awaiting it parks the run (no worker slot
 * held) until the child finishes, unless it already has.
 */
export class ChildHandle<T = unknown> implements PromiseLike<T> {
  /** The CHILD step's id in the parent's history. */
  readonly stepId: string;
  /**
   * The child's run id, once it is started: at once on replay, else when the
   * start's call answers (awaiting this does not park the run).
   */
  readonly runId: Promise<string>;

  /** @internal Made by ctx.child. */
  constructor(
    private readonly state: ChildState,
    private readonly calls: ChildCalls,
  ) {
    this.stepId = state.request.stepId ?? '';
    this.runId = state.runId.promise;
  }

  /**
   * Awaits the child's output, parking this run until the child finishes.
   *
   * @throws {@link ChildWorkflowFailedError} (through the promise) when the
   *   child failed, hit its deadline or was terminated;
   *   {@link ChildWorkflowCancelledError} when it was cancelled.
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.calls.awaited(this.state);
    return (this.state.result.promise as Promise<T>).then(onfulfilled, onrejected);
  }

  /** As `then(undefined, onrejected)`: handles the child's failure. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.then(undefined, onrejected);
  }
}

/** A CHILD step's recorded outcome as the workflow sees it: the output, or the child's error thrown. */
function outcomeOf(step: Step, stepId: string): { done: false } | { done: true; value?: unknown; error?: Error } {
  const childRunId = step.childRunId ?? '';
  if (step.status === 'COMPLETED') return { done: true, value: decodePayload(step.output) };
  if (step.status !== 'FAILED') return { done: false };
  const message = step.error?.message || `child workflow run ${childRunId} failed`;
  const type = step.error?.type || null;
  const error =
    type === CHILD_CANCELLED_ERROR_TYPE
      ? new ChildWorkflowCancelledError(childRunId, stepId, message, type)
      : new ChildWorkflowFailedError(childRunId, stepId, message, type);
  return { done: true, error };
}

/**
 * The children of one execution, and the StartChild calls that start them
 * and wait for them. Calls go on the turn after ctx.child (so that children
 * started together, `Promise.all(items.map(i => ctx.child(...)))`, start
 * together):
 *  - each child not started yet: StartChild (park false), concurrently;
 *  - if the workflow awaits children still running: one StartChild with park
 *    true, naming the others as `awaiting`, after those starts answered (the
 *    park must not overtake them). The server parks the run unless one of
 *    them has finished; if one has, each awaited child is asked again (park
 *    false), which records and returns the outcomes, and the workflow goes
 *    on. When the parked run wakes (a child finished), the replay asks again.
 */
export class ChildCalls {
  private readonly pending = new Set<ChildState>();
  private scheduled: NodeJS.Immediate | null = null;
  private flushing: Promise<void> | null = null;
  private again = false;

  constructor(private readonly hooks: ChildHooks) {}

  /**
   * A child the workflow asked for at step `request.stepId`, with what the
   * history recorded there. `frozen` (the replay check): a child not finished
   * in the history never settles, and nothing is sent.
   */
  add<T>(request: ChildRequest, recorded: Step | undefined, frozen: () => Promise<never> | null): ChildHandle<T> {
    const state: ChildState = {
      request,
      started: recorded !== undefined,
      awaited: false,
      runId: deferred<string>(),
      result: deferred<unknown>(),
    };
    if (recorded?.childRunId) state.runId.resolve(recorded.childRunId);
    const outcome = recorded ? outcomeOf(recorded, request.stepId ?? '') : { done: false as const };
    if (outcome.done) {
      if (outcome.error) state.result.reject(outcome.error);
      else state.result.resolve(outcome.value);
      return new ChildHandle<T>(state, this);
    }
    const never = frozen();
    if (never) {
      state.result.resolve(never);
      return new ChildHandle<T>(state, this);
    }
    this.pending.add(state);
    if (!state.started) this.schedule();
    return new ChildHandle<T>(state, this);
  }

  /** The workflow awaits this child. */
  awaited(state: ChildState): void {
    if (!this.pending.has(state) || state.awaited) return;
    state.awaited = true;
    this.schedule();
  }

  /** Before the run finishes, sleeps or waits otherwise: every child asked for is started. */
  async settle(): Promise<void> {
    if (this.scheduled) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.flushing || [...this.pending].some((s) => !s.started)) await this.flush();
  }

  private schedule(): void {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.scheduled ??= setImmediate(() => {
      this.scheduled = null;
      void this.flush();
    });
  }

  /** Passes until nothing is left to send; one at a time. Never rejects. */
  private flush(): Promise<void> {
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    this.flushing = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.hooks.stopped());
    })()
      .catch((err: unknown) => this.failAll(this.hooks.stopped() ?? err))
      .finally(() => (this.flushing = null));
    return this.flushing;
  }

  private async pass(): Promise<void> {
    let stalls = 0;
    for (;;) {
      const all = [...this.pending];
      const awaited = all.filter((s) => s.awaited);
      const toStart = all.filter((s) => !s.started);
      if (awaited.length === 0 && toStart.length === 0) return;
      // Started in the call that parks, when it is one: one call where two would do.
      const parker = awaited.find((s) => !s.started) ?? awaited[0];
      await Promise.all(toStart.filter((s) => s !== parker).map((s) => this.send(s, false, [])));
      if (!parker || !this.pending.has(parker)) continue;
      const others = [...this.pending].filter((s) => s.awaited && s !== parker).slice(0, CHILD_LIMITS.maxAwaiting);
      const reply = await this.send(
        parker,
        true,
        others.map((s) => s.request.stepId ?? ''),
      );
      if (reply?.suspended) {
        this.failAll(this.hooks.stopped() ?? new Error('parked until a child workflow finishes'));
        return;
      }
      if (!this.pending.has(parker)) continue;
      // Not parked, its child still running: one it awaits beside it has finished. Learn which.
      const before = this.pending.size;
      await Promise.all(others.map((s) => this.send(s, false, [])));
      if (this.pending.size === before && ++stalls > 3) {
        throw new Error('child workflows: the server would not park the run, yet no awaited child has finished');
      }
    }
  }

  /**
   * One StartChild for `state`; its outcome settles it. A refusal (say its
   * externalId is held by another run) rejects that child alone; once the
   * context has stopped, every child is rejected and the pass ends.
   */
  private async send(state: ChildState, park: boolean, awaiting: string[]): Promise<StartChildResponse | null> {
    let reply: StartChildResponse;
    try {
      reply = await this.hooks.send({ ...state.request, park, awaiting }, park);
    } catch (err) {
      const stopped = this.hooks.stopped();
      if (stopped) throw stopped;
      this.pending.delete(state);
      state.runId.reject(err);
      state.result.reject(err);
      return null;
    }
    state.started = true;
    const step = reply.step ?? {};
    if (step.childRunId) state.runId.resolve(step.childRunId);
    const outcome = outcomeOf(step, state.request.stepId ?? '');
    if (outcome.done) {
      this.pending.delete(state);
      if (outcome.error) state.result.reject(outcome.error);
      else state.result.resolve(outcome.value);
    }
    return reply;
  }

  /** Every child still pending fails with `reason` (the run was parked or stopped: the handler unwinds). */
  private failAll(reason: unknown): void {
    for (const state of this.pending) {
      state.runId.reject(reason);
      state.result.reject(reason);
    }
    this.pending.clear();
  }
}
