import { BatonError, ErrorCode, ErrorReason, SDK_DEFAULTS } from '@baton/contracts';
import type { Lease as LeaseMessage, RequestOf, ResponseOf, UnaryMethod } from '@baton/proto';
import { CancelledError, RunAbandonedError, isLeaseLost } from './errors';
import { ALREADY_APPLIED, RetryStopped, retryTransient } from './retry';
import { activeTraceparent } from './tracing';
import type { Transport } from './transport';

/** What every worker mutation carries (invariant 1): the run and the lease it is held under. */
export interface Lease {
  namespace: string;
  runId: string;
  workerId: string;
  leaseEpoch: number;
  /** The task's lease token, new at every claim: the server accepts a mutation only with it (invariant 13). */
  leaseToken: string;
}

/** The worker mutations of DESIGN §6: the WorkerService RPCs whose request carries the lease. */
export type WorkerMutation = {
  [M in UnaryMethod<'worker'>]: 'lease' extends keyof RequestOf<'worker', M> ? M : never;
}[UnaryMethod<'worker'>];

/** A mutation's request without the lease, which `mutate` adds. */
export type MutationBody<M extends WorkerMutation> = Omit<RequestOf<'worker', M>, 'lease'>;

/** A mutation's reply. */
export type MutationReply<M extends WorkerMutation> = ResponseOf<'worker', M>;

/** Used until Register says otherwise: the server's defaults (DESIGN §13). */
const DEFAULT_LEASE_DURATION_MS = SDK_DEFAULTS.leaseDurationMs;
const DEFAULT_WORKER_STALE_THRESHOLD_MS = SDK_DEFAULTS.workerStaleThresholdMs;

/**
 * How long this worker's leases may still hold. The server extends a lease on
 * each heartbeat and keeps a silent worker's runs at least for the lease
 * duration, then for the stale threshold (and, after an outage, only judges
 * staleness once it has been healthy that long). So while less than
 * `leaseDurationMs + workerStaleThresholdMs` has passed since the server last
 * answered, a mutation retried through an outage may still land, and giving
 * the run up earlier would only waste the work done.
 */
export class LeaseClock {
  private lastContactAt: number;
  private budgetMs = DEFAULT_LEASE_DURATION_MS + DEFAULT_WORKER_STALE_THRESHOLD_MS;

  constructor(private readonly now: () => number = Date.now) {
    this.lastContactAt = now();
  }

  /** The Register reply's timings; zero or missing (an older server) keeps the defaults. */
  configure(leaseDurationMs: number, workerStaleThresholdMs: number): void {
    this.budgetMs =
      (leaseDurationMs || DEFAULT_LEASE_DURATION_MS) + (workerStaleThresholdMs || DEFAULT_WORKER_STALE_THRESHOLD_MS);
  }

  /** The server answered a heartbeat, a mutation or a poll with a task. */
  touch(): void {
    this.lastContactAt = this.now();
  }

  get giveUpAt(): number {
    return this.lastContactAt + this.budgetMs;
  }

  get holdMs(): number {
    return this.budgetMs;
  }
}

/** One run's way to the server, shared by its context (step mutations) and the worker (finish, fail). */
export interface RunLink {
  transport: Pick<Transport, 'call'>;
  lease: Lease;
  clock: LeaseClock;
  /** Gives the run up here, never failing it: stops its context and aborts its signals. */
  abandon(err: RunAbandonedError): void;
  /**
   * The server answered that the run was cancelled: stops it as a cancel
   * pushed to the worker does (ctx.signal's reason a CancelledError). A
   * mutation may learn of a cancel before the push arrives.
   */
  cancelled?(): void;
  /** Told about each transient error a mutation retries through (`tries`: how many tries so far). */
  onTransient?(err: unknown, tries: number): void;
}

export interface MutateOptions {
  /** Ends the retries (cancel, deadline, worker stop, abandon); the abort reason is then thrown. */
  signal: AbortSignal;
  /** Whether an error answering a repeat proves that an earlier try, whose reply was lost, was applied. */
  repeatSucceeded?: (err: unknown) => boolean;
}

/**
 * One worker mutation, retried through transport errors and UNAVAILABLE /
 * DEADLINE_EXCEEDED for as long as the lease may hold. Resolves with the
 * reply, or ALREADY_APPLIED when a repeat proves an earlier try went through.
 * When the server says the lease is gone, or stays away too long, the run is
 * abandoned (`link.abandon`) and RunAbandonedError thrown: never a failure.
 * An abort throws the signal's reason. Any other definitive answer of the
 * server (INVALID_ARGUMENT, NON_DETERMINISTIC, ...) is thrown as is.
 */
export async function mutate<M extends WorkerMutation>(
  link: RunLink,
  method: M,
  body: MutationBody<M>,
  options: MutateOptions,
): Promise<MutationReply<M> | typeof ALREADY_APPLIED> {
  const { transport, lease, clock } = link;
  // Every mutation's request is its body plus the lease (WorkerMutation is defined by that field).
  const request = { ...body, lease: lease satisfies LeaseMessage } as RequestOf<'worker', M>;
  // The server's span for the call joins the run's trace (when the call travels alone, not in a Batch).
  const traceparent = activeTraceparent();
  try {
    const reply = await retryTransient<MutationReply<M>>(
      (timeoutMs) => transport.call('worker', method, request, { timeoutMs, signal: options.signal, traceparent }),
      {
        giveUpAt: () => clock.giveUpAt,
        signal: options.signal,
        repeatSucceeded: options.repeatSucceeded,
        onTransient: link.onTransient?.bind(link),
      },
    );
    clock.touch();
    return reply;
  } catch (err) {
    if (err instanceof RetryStopped && err.why === 'aborted') throw abortReason(options.signal, lease.runId);
    if (err instanceof RetryStopped) {
      throw giveUp(
        link,
        new RunAbandonedError(
          lease.runId,
          `${method} for workflow run ${lease.runId}: no answer from the server for ${clock.holdMs} ms, ` +
            `longer than the lease may hold; the run is left to the server (last error: ${describe(err.lastError)})`,
          err.lastError,
        ),
      );
    }
    clock.touch(); // the server answered, definitively
    if (link.cancelled && err instanceof BatonError && err.reason === ErrorReason.RUN_CANCELLED) {
      link.cancelled();
      throw new CancelledError(lease.runId);
    }
    if (isLeaseLost(err)) {
      throw giveUp(
        link,
        new RunAbandonedError(lease.runId, `${method} for workflow run ${lease.runId}: ${describe(err)}`, err),
      );
    }
    throw err;
  }
}

/** CompleteWorkflow repeated after a lost reply: the run being finished proves the first try landed. */
export function runFinished(err: unknown): boolean {
  return err instanceof BatonError && err.reason === ErrorReason.RUN_TERMINAL;
}

/**
 * FailStep repeated after a lost reply: a first try that failed the step for
 * good makes the server refuse the repeat as "already failed", with no reason
 * (a first try that parked the run for a retry makes it answer LEASE_LOST).
 */
export function stepAlreadyFailed(err: unknown): boolean {
  return (
    err instanceof BatonError &&
    err.code === ErrorCode.FAILED_PRECONDITION &&
    err.reason === ErrorReason.STEP_ALREADY_FAILED
  );
}

function giveUp(link: RunLink, err: RunAbandonedError): RunAbandonedError {
  link.abandon(err);
  return err;
}

function abortReason(signal: AbortSignal, runId: string): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new RunAbandonedError(runId, `workflow run ${runId} was stopped`, reason);
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
