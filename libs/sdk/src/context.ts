import { ENCODING_JSON, INPUT_LIMITS, SDK_DEFAULTS, jsonTextDepth, parseDuration } from '@baton/contracts';
import type { Duration, RetryPolicy } from '@baton/contracts';
import type { Payload, Step, Task } from '@baton/proto';
import { toRetryPolicy } from './retry-options';
import type { RetryOptions } from './retry-options';
import { NonDeterminismError, NonRetryableError, RunAbandonedError, StepFailedError, isRefusedOutput } from './errors';
import { mutate, stepAlreadyFailed } from './lease';
import type { MutationBody, MutationReply, RunLink, WorkerMutation } from './lease';
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

/** A completed step whose record has not been sent yet (see `step`). */
export interface UnsentStep {
  stepId: string;
  seq: number;
  output?: Payload;
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

export interface StepOptions {
  /**
   * This step's retry policy (DESIGN §13 names: `initialInterval`,
   * `maxInterval`, as milliseconds or durations); unset fields fall back to
   * the run's policy.
   */
  retry?: RetryOptions;
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
  readonly runId: string;
  readonly workflowType: string;
  readonly namespace: string;
  readonly queue: string;
  readonly attempt: number;
  readonly correlationId: string | null;
  readonly traceId: string | null;
  private nextSeq = 0;
  private readonly history: Map<number, Step>;
  private readonly seqById: Map<string, number>;
  private readonly used = new Set<string>();
  /** Set once the run has been parked or lost: any further call unwinds the handler. */
  private stopped: Error | null = null;
  /** The last completed step, recorded with the workflow's next call to the server. */
  private unsent: UnsentStep | null = null;
  private sending: Promise<void> | null = null;
  /** Why recording an unsent step failed: thrown at the workflow's next step or completion. */
  private unsentFailure: unknown = null;

  /** `task`: the PollTask reply's task, as the server sent it (the wire leaves zero and empty fields out). */
  constructor(
    task: Task,
    private readonly link: RunLink,
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
    // The previous step is durable before this one's body runs (invariant 5).
    await this.sendUnsentStep();
    const { seq, recorded } = this.claimSeq(stepId, 'FUNCTION');
    if (recorded?.status === 'COMPLETED') return decodePayload<T>(recorded.output);
    if (recorded?.status === 'FAILED' && recorded.final) {
      throw new StepFailedError(stepId, recorded.error?.message ?? 'step failed', recorded.error?.type ?? null);
    }
    let value: T;
    try {
      // Span `baton.step <stepId>`, active while the body runs: what the body traces nests under it.
      value = await traceStep(this.runId, stepId, seq, fn);
    } catch (err) {
      this.throwIfStopped();
      return this.stepFailed(stepId, seq, err, retry);
    }
    this.throwIfStopped();
    const output = encodePayload(value);
    if (!this.unsent && !this.sending && surelyStorable(output)) {
      // Recorded with whatever the workflow asks of the server next: most often its
      // completion, which then takes one call and one commit instead of two. Code that
      // awaits anything else first (I/O outside a step) lets the record go on the next
      // turn of the event loop.
      this.unsent = { stepId, seq, output };
      setImmediate(() => void this.sendUnsentStep().catch(() => undefined));
      return decodePayload<T>(output);
    }
    try {
      await this.rpc('CompleteStep', { stepId, seq, output });
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
    const { seq, recorded } = this.claimSeq(stepId, 'SLEEP');
    if (recorded?.status === 'COMPLETED') return this.sendUnsentStep();
    // The step completed just before travels with the sleep: one call and one commit.
    const lastStep = await this.takeUnsentStep();
    let res: MutationReply<'Sleep'> | typeof ALREADY_APPLIED;
    try {
      res = await this.rpc('Sleep', { stepId, seq, durationMs: ms, ...(lastStep ? { lastStep } : {}) });
    } catch (err) {
      // Not recorded: that step is still to be recorded, before whatever failure this becomes.
      if (lastStep && !this.stopped) this.unsent ??= lastStep;
      throw err;
    }
    if (res === ALREADY_APPLIED || !res.suspended) return;
    this.stopped = new Suspension(`sleeping until ${timeOf(res.wakeUpAtMs)}`);
    throw this.stopped;
  }

  /**
   * Hands over the last completed step not yet recorded, for the worker to
   * send with the workflow's completion (or before its failure); waits for a
   * record already on its way, and throws if recording one failed.
   */
  async takeUnsentStep(): Promise<UnsentStep | null> {
    if (this.sending) await this.sending;
    if (this.unsentFailure) throw this.unsentFailure;
    const step = this.unsent;
    this.unsent = null;
    return step;
  }

  private async sendUnsentStep(): Promise<void> {
    if (this.unsent && !this.sending) {
      const step = this.unsent;
      this.unsent = null;
      this.sending = this.rpc('CompleteStep', step)
        .then(
          () => undefined,
          (err: unknown) => {
            this.unsentFailure ??= isRefusedOutput(err) ? new NonRetryableError(err.message, err.code) : err;
          },
        )
        .finally(() => (this.sending = null));
    }
    if (this.sending) await this.sending;
    if (this.unsentFailure) throw this.unsentFailure;
  }

  /**
   * Marks the context stopped (parked, lease lost, cancelled, deadline, given
   * up): further calls unwind, and the first reason is the one that counts.
   */
  stop(reason: Error): void {
    this.stopped ??= reason;
  }

  private async stepFailed<T>(stepId: string, seq: number, err: unknown, retry?: RetryPolicy): Promise<T> {
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
    const info = errorInfo(err);
    const failed = new StepFailedError(stepId, info.message, info.type);
    if (err instanceof Error) failed.stack = err.stack;
    throw failed;
  }

  private claimSeq(stepId: string, kind: 'FUNCTION' | 'SLEEP'): { seq: number; recorded?: Step } {
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
    if (
      (recorded && (recorded.stepId !== stepId || recorded.kind !== kind)) ||
      (recordedSeq !== undefined && recordedSeq !== seq)
    ) {
      throw new NonDeterminismError(
        recorded
          ? `replay mismatch at position ${seq}: history has ${recorded.kind} "${recorded.stepId}", code asked for ${kind} "${stepId}"`
          : `replay mismatch: step "${stepId}" was recorded at position ${recordedSeq}, code asked for it at ${seq}`,
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

/** Recorded steps the code never reached: the code changed (checked when a handler returns). */
export function checkHistoryConsumed(ctx: WorkflowContext, task: Task, executedSteps: number): void {
  const recorded = task.history?.length ?? 0;
  if (executedSteps < recorded) {
    throw new NonDeterminismError(
      `replay mismatch: history has ${recorded} steps, the workflow finished after ${executedSteps} (run ${ctx.runId})`,
    );
  }
}
