import {
  ENCODING_JSON,
  INPUT_LIMITS,
  SDK_DEFAULTS,
  jsonTextDepth,
  parseDuration,
  signalStepId,
} from '@baton/contracts';
import type { Duration, RetryPolicy } from '@baton/contracts';
import type { Payload, Step, Task } from '@baton/proto';
import { ChildCalls, childRequestFields, childStepId } from './children';
import type { ChildHandle, ChildOptions } from './children';
import { toRetryPolicy } from './retry-options';
import type { RetryOptions } from './retry-options';
import { NonDeterminismError, NonRetryableError, RunAbandonedError, StepFailedError, isRefusedOutput } from './errors';
import { mutate, stepAlreadyFailed } from './lease';
import type { MutationBody, MutationReply, RunLink, WorkerMutation } from './lease';
import { patchMarkerId, refuseReservedId } from './patches';
import { decodePayload, encodePayload } from './payload';
import { ALREADY_APPLIED } from './retry';
import { traceStep } from './tracing';

export type { Lease } from './lease';

/** Thrown inside a handler to unwind it once the run is parked (sleep, step retry). Never caught by Baton users. */
export class Suspension extends Error {
  override name = 'Suspension';
  constructor(readonly why: string) {
    super(`workflow suspended: ${why}`);
  }
}

/** An epoch-ms time of a reply, for a message. */
const timeOf = (epochMs: number | undefined) =>
  epochMs === undefined ? 'a time not given' : new Date(epochMs).toISOString();

const noop = () => undefined;

/** A completed step whose record has not been sent yet (see `step`). */
export interface UnsentStep {
  stepId: string;
  seq: number;
  output?: Payload;
  /** How long the body ran (whole ms): the server records the step's start as its completion less this. */
  durationMs?: number;
}

/**
 * Whether the server will surely take this output (size and nesting under its
 * limits), so that its record may wait: a refusal must fail the step itself.
 */
function surelyStorable(output: Payload | undefined): boolean {
  if (!output?.data) return true;
  if (output.data.length > SDK_DEFAULTS.deferredStepOutputMaxBytes) return false;
  if (output.encoding !== ENCODING_JSON) return true;
  return jsonTextDepth(Buffer.from(output.data).toString('utf8')) <= INPUT_LIMITS.maxJsonDepth;
}

/** Options of `ctx.step`. */
export interface StepOptions {
  /**
   * This step's retry policy (DESIGN §13 names: `initialInterval`,
   * `maxInterval`, as milliseconds or durations); unset fields fall back to
   * the run's policy.
   */
  retry?: RetryOptions;
}

/** Options of `ctx.waitForSignal`. */
export interface WaitForSignalOptions {
  /**
   * How long to wait (milliseconds or a duration such as `'7d'`, at most 30
   * days); the wait then returns null. Default: until a signal comes. 0 takes
   * a signal already sent, else returns null at once.
   */
  timeout?: Duration;
  /** The wait's step id. Default `signal:<name>#<n>`: the run's n-th wait for `name` without one. */
  stepId?: string;
}

/** Turns anything thrown (including non-Error values) into the error record the server stores. */
export function errorInfo(err: unknown): { message: string; type: string; stack: string; nonRetryable: boolean } {
  if (err instanceof Error) {
    const typed = err as Error & { type?: string; nonRetryable?: boolean };
    return {
      message: err.message || err.name,
      type: typed.type ?? err.name,
      stack: err.stack ?? '',
      nonRetryable: typed.nonRetryable === true,
    };
  }
  let message: string;
  try {
    message = typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
  } catch {
    message = String(err);
  }
  return { message: `non-Error thrown: ${message}`, type: 'NonErrorThrown', stack: '', nonRetryable: false };
}

/**
 * What a workflow handler receives. Steps and sleeps are numbered in call
 * order; on replay each call is matched against the recorded history
 * (invariant 6) and completed steps return their stored output (invariant 5).
 */
export class WorkflowContext {
  /** The run's id. */
  readonly runId: string;
  /** The run's workflow type. */
  readonly workflowType: string;
  /** The run's namespace. */
  readonly namespace: string;
  /** The task queue it was claimed from. */
  readonly queue: string;
  /** The run's attempt, from 1: a workflow-level retry runs the handler again with the next one. */
  readonly attempt: number;
  /** The `correlationId` the run was started with; null without one. */
  readonly correlationId: string | null;
  /** The `traceId` the run was started with; null without one. */
  readonly traceId: string | null;
  private nextSeq = 0;
  private readonly history: Map<number, Step>;
  private readonly seqById: Map<string, number>;
  private readonly used = new Set<string>();
  /** Set once the run has been parked or lost: any further call unwinds the handler. */
  private stopped: Error | null = null;
  /** Completed steps not recorded yet: sent on the next turn, or (the last one) with the workflow's next call. */
  private unsent: UnsentStep[] = [];
  /** CompleteStep calls on their way (settled, never rejecting). */
  private readonly recording = new Set<Promise<void>>();
  /** Calls on their way that may park the run (FailStep, Sleep): step records wait for their answer. */
  private readonly parking = new Set<Promise<void>>();
  private flushScheduled = false;
  /** Each patch's answer in this execution (ctx.patched). */
  private readonly patches = new Map<string, boolean>();
  /** Why recording an unsent step failed: thrown at the workflow's next step or completion. */
  private unsentFailure: unknown = null;

  /** `task`: the PollTask reply's task, as the server sent it (the wire leaves zero and empty fields out). */
  constructor(
    task: Task,
    private readonly link: RunLink,
    /**
     * Aborts when the run is cancelled or terminated, passes its deadline, or
     * this worker stops or gives it up; its `reason` says which. Pass it on
     * to what a step awaits (`fetch(url, { signal: ctx.signal })`).
     */
    readonly signal: AbortSignal,
  ) {
    this.runId = task.runId ?? '';
    this.workflowType = task.workflowType ?? '';
    this.namespace = task.namespace ?? '';
    this.queue = task.queue ?? '';
    this.attempt = task.attempt ?? 0;
    this.correlationId = task.correlationId || null;
    this.traceId = task.traceId || null;
    const history = task.history ?? [];
    this.history = new Map(history.map((h) => [h.seq ?? 0, h]));
    this.seqById = new Map(history.map((h) => [h.stepId ?? '', h.seq ?? 0]));
  }

  /** Why this execution stopped (parked, cancelled, given up), once it has: null while it goes on. */
  get suspended(): Error | null {
    return this.stopped;
  }

  /** How many steps and sleeps the handler has called so far. */
  get stepsCalled(): number {
    return this.nextSeq;
  }

  /** Runs `fn` once, durably: its result is recorded and returned as is on every replay. */
  async step<T>(stepId: string, fn: () => T | Promise<T>, options: StepOptions = {}): Promise<T> {
    // A malformed policy is the workflow's own bug: refused before the step runs, not when it fails.
    const retry = toRetryPolicy(options.retry, 'retry');
    refuseReservedId(stepId);
    // Numbered at call time, before any await: steps started together (Promise.all, ctx.all)
    // take their positions in call order, whatever order their bodies finish in.
    const { seq, recorded } = this.claimSeq(stepId, 'FUNCTION');
    // Every step completed before this one was called is durable before its body runs (invariant 5).
    await this.flushUnsent();
    this.throwIfStopped();
    if (recorded?.status === 'COMPLETED') return decodePayload<T>(recorded.output);
    if (recorded?.status === 'FAILED' && recorded.final) {
      throw new StepFailedError(stepId, recorded.error?.message ?? 'step failed', recorded.error?.type ?? null);
    }
    const end = this.beyondHistory();
    if (end) return end;
    let value: T;
    const began = performance.now();
    try {
      // Span `baton.step <stepId>`, active while the body runs: what the body traces nests under it.
      value = await traceStep(this.runId, stepId, seq, fn);
    } catch (err) {
      this.throwIfStopped();
      return this.stepFailed(stepId, seq, err, retry);
    }
    this.throwIfStopped();
    const durationMs = Math.round(performance.now() - began);
    const output = encodePayload(value);
    if (surelyStorable(output)) {
      // Recorded with whatever the workflow asks of the server next: most often its
      // completion, which then takes one call and one commit instead of two. Code that
      // awaits anything else first (I/O outside a step, a sibling step still running)
      // lets the record go on the next turn of the event loop.
      this.defer({ stepId, seq, output, durationMs });
      return decodePayload<T>(output);
    }
    // Sent at once, so that a refusal fails this step; after any park on its way, never across it.
    await this.flushUnsent();
    this.throwIfStopped();
    try {
      await this.track(this.rpc('CompleteStep', { stepId, seq, output, durationMs }));
    } catch (err) {
      // The output itself is refused (too large, nested too deep): no retry can change that.
      if (isRefusedOutput(err))
        return this.stepFailed(stepId, seq, new NonRetryableError(err.message, err.code), retry);
      throw err;
    }
    // Hand back what a replay would: the value as it round-trips through its encoding.
    return decodePayload<T>(output);
  }

  /** Parks the run durably for `duration` (0 is a no-op; at most 30 days). */
  async sleep(stepId: string, duration: Duration): Promise<void> {
    const ms = parseDuration(duration, 'duration');
    if (ms === 0) return;
    refuseReservedId(stepId);
    const { seq, recorded } = this.claimSeq(stepId, 'SLEEP');
    if (recorded?.status === 'COMPLETED') return this.flushUnsent();
    const end = this.beyondHistory();
    if (end) return end;
    // The step completed just before travels with the sleep: one call and one commit.
    const lastStep = await this.takeUnsentStep();
    // Parked meanwhile by a step beside it (a retry): there is nothing to sleep in.
    this.throwIfStopped();
    try {
      await this.whileParking(async () => {
        const res = await this.rpc('Sleep', { stepId, seq, durationMs: ms, ...(lastStep ? { lastStep } : {}) });
        if (res === ALREADY_APPLIED || !res.suspended) return;
        this.stopped = new Suspension(`sleeping until ${timeOf(res.wakeUpAtMs)}`);
        throw this.stopped;
      });
    } catch (err) {
      // Not recorded: that step is still to be recorded, before whatever failure this becomes.
      if (lastStep && !this.stopped) this.unsent.unshift(lastStep);
      throw err;
    }
  }

  /** How many waits for each signal name this execution made without a step id (their default ids count them). */
  private readonly signalWaits = new Map<string, number>();

  /**
   * Waits durably for signal `name` (sent with `client.signal`) and returns
   * its payload, or null once `options.timeout` has passed. Signals sent
   * before the wait are buffered in order: each wait takes the oldest one of
   * its name not taken yet, and each signal reaches exactly one wait. While
   * none has come the run is parked and holds no worker slot. A replay
   * returns the recorded payload (or null) again, without a call.
   */
  async waitForSignal<T = unknown>(name: string, options: WaitForSignalOptions = {}): Promise<T | null> {
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout');
    let stepId = options.stepId;
    if (stepId === undefined) {
      const n = (this.signalWaits.get(name) ?? 0) + 1;
      this.signalWaits.set(name, n);
      stepId = signalStepId(name, n);
    } else refuseReservedId(stepId);
    const { seq, recorded } = this.claimSeq(stepId, 'SIGNAL');
    if (recorded?.status === 'COMPLETED') {
      await this.flushUnsent();
      return decodePayload<T>(recorded.output) ?? null;
    }
    const end = this.beyondHistory();
    if (end) return end;
    // The step completed just before travels with the wait: one call and one commit.
    const lastStep = await this.takeUnsentStep();
    this.throwIfStopped();
    const request = { stepId, seq, name, timeoutMs, ...(lastStep ? { lastStep } : {}) };
    try {
      return await this.whileParking(async () => {
        const res = await this.rpc('WaitForSignal', request);
        if (res !== ALREADY_APPLIED && res.suspended) {
          const until = res.wakeUpAtMs === undefined ? 'it comes' : timeOf(res.wakeUpAtMs);
          this.stopped = new Suspension(`waiting for signal "${name}" until ${until}`);
          throw this.stopped;
        }
        return res === ALREADY_APPLIED ? null : (decodePayload<T>(res.payload) ?? null);
      });
    } catch (err) {
      // Not recorded: that step is still to be recorded, before whatever failure this becomes.
      if (lastStep && !this.stopped) this.unsent.unshift(lastStep);
      throw err;
    }
  }

  /** How many children of each type this execution started without a step id (their default ids count them). */
  private readonly childCounts = new Map<string, number>();

  /** ctx.child's calls to the server (children.ts). */
  private readonly childCalls = new ChildCalls({
    send: async (request, park) => {
      // Completed steps before it are durable first; a park waits for none of them to land after it.
      await this.flushUnsent();
      this.throwIfStopped();
      const call = async () => {
        const res = await this.rpc('StartChild', request);
        const reply = res === ALREADY_APPLIED ? {} : res;
        if (reply.suspended) this.stopped ??= new Suspension(`waiting for child workflow "${request.stepId}"`);
        return reply;
      };
      return park ? this.whileParking(call) : call();
    },
    stopped: () => this.stopped,
  });

  /**
   * Starts workflow `workflowType` as a child of this run, durably: the
   * child is keyed by this run's step (`options.stepId`, default
   * `child:<workflowType>#<n>`), so a replay finds the same child and never
   * starts a second one. Await the handle for the child's output; a child
   * that did not complete throws ChildWorkflowFailedError (its message and
   * error type) or ChildWorkflowCancelledError. While an awaited child runs,
   * this run is parked and holds no worker slot. Children started together
   * (`Promise.all`) run together. `handle.runId` gives the child's id.
   * Cancelling this run cancels its children unless `cancelWithParent` is
   * false.
   */
  child<T = unknown>(workflowType: string, input?: unknown, options: ChildOptions = {}): ChildHandle<T> {
    const fields = childRequestFields(workflowType, input, options);
    let stepId = options.stepId;
    if (stepId === undefined) {
      const n = (this.childCounts.get(workflowType) ?? 0) + 1;
      this.childCounts.set(workflowType, n);
      stepId = childStepId(workflowType, n);
    } else refuseReservedId(stepId);
    const { seq, recorded } = this.claimSeq(stepId, 'CHILD');
    return this.childCalls.add<T>({ ...fields, stepId, seq }, recorded, () => this.beyondHistory());
  }

  /**
   * Hands over the last completed step not yet recorded, for the worker to
   * send with the workflow's completion (or before its failure); records the
   * others (steps run in parallel) and waits for those on their way first, and
   * throws if recording one failed. Null once the run is parked.
   */
  async takeUnsentStep(): Promise<UnsentStep | null> {
    // Children the workflow asked for are started before it parks or finishes otherwise.
    await this.childCalls.settle();
    await this.flushUnsent(1);
    return this.unsent.pop() ?? null;
  }

  /**
   * Runs several steps concurrently, keyed by step id, and returns their
   * outputs under the same keys. Each is a `step` (numbered in key order,
   * recorded as it completes, replayed from its record). Settles once every
   * step has; a failure is thrown then, the first in key order, so that a
   * replay (where recorded failures come back at once) throws the same one.
   * If the run stops meanwhile (parked for a retry, lost) it rejects at once.
   */
  async all<S extends Record<string, () => unknown>>(
    steps: S,
    options: StepOptions = {},
  ): Promise<{ [K in keyof S]: Awaited<ReturnType<S[K]>> }> {
    const ids = Object.keys(steps);
    const running = ids.map((id) => this.step(id, steps[id]!, options));
    const stopped = new Promise<never>((_, reject) => {
      for (const step of running) step.catch(() => this.stopped && reject(this.stopped));
    });
    stopped.catch(noop);
    const settled = await Promise.race([Promise.allSettled(running), stopped]);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const values = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
    return Object.fromEntries(ids.map((id, i) => [id, values[i]])) as { [K in keyof S]: Awaited<ReturnType<S[K]>> };
  }

  /**
   * Whether this run takes the code path of patch `patchId`, for changing
   * code while runs are in flight: `if (ctx.patched('x')) { new } else { old }`.
   * True where the execution is past its recorded history (a marker step
   * `patch:<id>` is recorded, durable before any later step runs, so replays
   * answer true again); false where the history holds another step here (a
   * run recorded before the patch: nothing is consumed, so it replays
   * unchanged). Repeated calls give the first answer.
   */
  patched(patchId: string): boolean {
    const known = this.patches.get(patchId);
    if (known !== undefined) return known;
    const markerId = patchMarkerId(patchId);
    this.throwIfStopped();
    const position = this.nextSeq;
    const recorded = this.history.get(position);
    // Nothing here but steps recorded later: one that was running beside it (never completed), so an old run.
    const taken = recorded
      ? recorded.stepId === markerId
      : this.seqById.has(markerId) || ![...this.history.keys()].some((seq) => seq > position);
    if (taken) {
      const { seq } = this.claimSeq(markerId, 'FUNCTION');
      if (!recorded) this.defer({ stepId: markerId, seq, output: encodePayload(true) });
    }
    this.patches.set(patchId, taken);
    return taken;
  }

  /**
   * For code from which patch `patchId` is being removed (only its new path
   * kept): consumes the patch's marker where a run recorded one here, so runs
   * of either kind replay; records nothing. Delete the call once no run that
   * recorded the marker remains.
   */
  deprecatePatch(patchId: string): void {
    const markerId = patchMarkerId(patchId);
    if (this.history.get(this.nextSeq)?.stepId === markerId) this.claimSeq(markerId, 'FUNCTION');
  }

  /**
   * The first recorded step this execution never asked for (the code changed),
   * as the error that reports it; null when the code asked for every one.
   */
  historyLeftOver(): NonDeterminismError | null {
    const left = [...this.history.values()]
      .filter((h) => !this.used.has(h.stepId ?? ''))
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))[0];
    if (!left) return null;
    const recorded = { stepId: left.stepId ?? '', kind: left.kind ?? '' };
    return new NonDeterminismError(
      `replay mismatch: history has ${recorded.kind} "${recorded.stepId}" at position ${left.seq ?? 0}, ` +
        `which the workflow never asked for (run ${this.runId})`,
      { position: left.seq ?? 0, recorded, requested: null },
    );
  }

  /**
   * Where a context that only replays (the replay check, replay.ts) stops: a
   * step or sleep its history does not hold. There it answers a promise that
   * never settles; a worker's context answers null and runs the step.
   */
  protected beyondHistory(): Promise<never> | null {
    return null;
  }

  /** Every non-determinism replay meets, before it is thrown (the replay check notes it even if the workflow catches it). */
  protected mismatch(err: NonDeterminismError): NonDeterminismError {
    return err;
  }

  /** Records a completed step on the next turn of the event loop, unless the workflow's next call takes it first. */
  private defer(step: UnsentStep): void {
    this.unsent.push(step);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flushQueued();
    });
  }

  /**
   * The next turn's flush: what is queued by then, once any park on its way
   * has answered. Records queued later wait for their own turn, so that the
   * workflow's next call can still carry the last one.
   */
  private async flushQueued(): Promise<void> {
    while (this.parking.size > 0) await Promise.all(this.parking);
    if (this.stopped instanceof Suspension) this.unsent = [];
    else this.sendRecords(this.unsent.splice(0));
  }

  /**
   * Sends the records of completed steps (all but the last `keep`) and waits
   * for those on their way. A park on its way is waited for first: once the
   * run is parked the lease is gone and the records are dropped (those steps
   * never completed durably, so they run again on replay).
   */
  private async flushUnsent(keep = 0): Promise<void> {
    for (;;) {
      if (this.parking.size > 0) await Promise.all(this.parking);
      else if (this.stopped instanceof Suspension && this.unsent.length > 0) this.unsent = [];
      else if (this.unsent.length > keep) this.sendRecords(this.unsent.splice(0, this.unsent.length - keep));
      else if (this.recording.size > 0) await Promise.all(this.recording);
      else break;
    }
    if (this.unsentFailure) throw this.unsentFailure;
  }

  /** CompleteStep for each; concurrent, so the worker's batching sends them as one call. */
  private sendRecords(steps: UnsentStep[]): void {
    for (const step of steps) {
      this.track(this.rpc('CompleteStep', step)).catch((err: unknown) => {
        this.unsentFailure ??= isRefusedOutput(err) ? new NonRetryableError(err.message, err.code) : err;
      });
    }
  }

  /** A CompleteStep on its way, which flushUnsent waits for. */
  private track<R>(call: Promise<R>): Promise<R> {
    const settled: Promise<void> = call.then(noop, noop).finally(() => this.recording.delete(settled));
    this.recording.add(settled);
    return call;
  }

  /**
   * Runs `park`, whose call may park the run (and then stops this context
   * before it settles): step records that come meanwhile wait for it, since
   * sent beside it they could land after the lease is gone.
   */
  private whileParking<R>(park: () => Promise<R>): Promise<R> {
    const running = park();
    const settled: Promise<void> = running.then(noop, noop).finally(() => this.parking.delete(settled));
    this.parking.add(settled);
    return running;
  }

  /**
   * Marks the context stopped (parked, lease lost, cancelled, deadline, given
   * up): further calls unwind, and the first reason is the one that counts.
   */
  stop(reason: Error): void {
    this.stopped ??= reason;
  }

  private async stepFailed<T>(stepId: string, seq: number, err: unknown, retry?: RetryPolicy): Promise<T> {
    // Steps beside it that completed are recorded first (never to run again): this may park the run.
    // One turn first, so that bodies finishing in the same moment as this one are among them.
    await new Promise((resolve) => setImmediate(resolve));
    await this.flushUnsent();
    this.throwIfStopped();
    await this.whileParking(async () => {
      const res = await this.rpc(
        'FailStep',
        { stepId, seq, error: errorInfo(err), retry },
        // A lost reply to a final failure: the repeat finds the step already failed for good.
        stepAlreadyFailed,
      );
      if (res !== ALREADY_APPLIED && res.willRetry) {
        this.stopped = new Suspension(`step "${stepId}" retries at ${timeOf(res.retryAtMs)}`);
        throw this.stopped;
      }
    });
    const info = errorInfo(err);
    const failed = new StepFailedError(stepId, info.message, info.type);
    if (err instanceof Error) failed.stack = err.stack;
    throw failed;
  }

  private claimSeq(stepId: string, kind: 'FUNCTION' | 'SLEEP' | 'SIGNAL' | 'CHILD'): { seq: number; recorded?: Step } {
    this.throwIfStopped();
    if (this.used.has(stepId)) {
      throw new NonRetryableError(
        `step id "${stepId}" is used twice in one run; step ids must be unique`,
        'DUPLICATE_STEP_ID',
      );
    }
    this.used.add(stepId);
    const seq = this.nextSeq++;
    const recorded = this.history.get(seq);
    const recordedSeq = this.seqById.get(stepId);
    const requested = { stepId, kind };
    if (recorded && (recorded.stepId !== stepId || recorded.kind !== kind)) {
      throw this.mismatch(
        new NonDeterminismError(
          `replay mismatch at position ${seq}: history has ${recorded.kind} "${recorded.stepId}", code asked for ${kind} "${stepId}"`,
          { position: seq, recorded: { stepId: recorded.stepId ?? '', kind: recorded.kind ?? '' }, requested },
        ),
      );
    }
    if (recordedSeq !== undefined && recordedSeq !== seq) {
      throw this.mismatch(
        new NonDeterminismError(
          `replay mismatch: step "${stepId}" was recorded at position ${recordedSeq}, code asked for it at ${seq}`,
          { position: seq, recorded: null, requested },
        ),
      );
    }
    return { seq, recorded };
  }

  private throwIfStopped(): void {
    if (this.stopped) throw this.stopped;
    if (this.signal.aborted) {
      this.stopped = this.signal.reason instanceof Error ? this.signal.reason : new Error('aborted');
      throw this.stopped;
    }
  }

  /**
   * A step mutation, retried through outages for as long as the lease may
   * hold (the server's step mutations are idempotent upserts keyed by step
   * id). Whatever ends the run here instead (lease lost, no server for too
   * long, cancel, deadline) stops this context first, so the error the
   * handler sees can never become the run's failure: the worker ignores
   * whatever the handler throws or returns after it.
   */
  private async rpc<M extends WorkerMutation>(
    method: M,
    body: MutationBody<M>,
    repeatSucceeded?: (err: unknown) => boolean,
  ): Promise<MutationReply<M> | typeof ALREADY_APPLIED> {
    try {
      return await mutate(this.link, method, body, { signal: this.signal, repeatSucceeded });
    } catch (err) {
      if (err instanceof RunAbandonedError || this.signal.aborted) {
        this.stop(err instanceof Error ? err : new RunAbandonedError(this.runId, String(err)));
        throw this.stopped;
      }
      throw err;
    }
  }
}

/**
 * Recorded steps the code never asked for: the code changed (checked when a
 * handler returns). By id, not by count: steps run in parallel may leave gaps.
 */
export function checkHistoryConsumed(ctx: WorkflowContext): void {
  const leftOver = ctx.historyLeftOver();
  if (leftOver) throw leftOver;
}
