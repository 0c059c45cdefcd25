import { BatonError, ErrorCode, SDK_DEFAULTS } from '@baton/contracts';

/** Capped exponential backoff: the n-th wait is at most `initialMs · factor^(n-1)`, never above `maxMs`. */
export interface Backoff {
  initialMs: number;
  factor: number;
  maxMs: number;
}

/** Between tries of a worker mutation through an outage (see SDK_DEFAULTS). */
export const MUTATION_BACKOFF: Backoff = SDK_DEFAULTS.mutationBackoff;

export const MUTATION_TRY_TIMEOUT = SDK_DEFAULTS.mutationTryTimeout;

/**
 * The wait before retry number `retry` (1-based). Equal jitter: at least half
 * the ceiling, so retries never bunch at zero, and a random rest, so the
 * workers that all lost the server at once do not all come back at once.
 */
export function backoffDelay(retry: number, backoff: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, retry - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * Transient failures worth retrying: the server, its database or the network
 * is away for a moment (RESOURCE_EXHAUSTED and transport-level resets are
 * mapped to UNAVAILABLE by the transport). Everything else is the server's
 * definitive answer.
 */
export function isTransient(err: unknown): boolean {
  return err instanceof BatonError && (err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.DEADLINE_EXCEEDED);
}

/** Why `retryTransient` stopped without an answer from the server. */
export class RetryStopped extends Error {
  override name = 'RetryStopped';
  constructor(
    /** `aborted`: the signal fired; `expired`: the time allowed ran out. */
    readonly why: 'aborted' | 'expired',
    /** The last transient error seen, if any try was made. */
    readonly lastError: unknown,
  ) {
    super(why === 'aborted' ? 'retries aborted' : 'gave up retrying: no answer in the time allowed');
  }
}

/** What a repeat that proved an earlier try applied resolves to (its own reply was lost). */
export const ALREADY_APPLIED: unique symbol = Symbol('already applied');

export interface TransientRetryOptions {
  /** Epoch ms after which no new try starts; read before every try, so progress elsewhere can move it. */
  giveUpAt: () => number;
  /** Stops the retries (and the try in flight) at once. */
  signal?: AbortSignal;
  backoff?: Backoff;
  /** Whether an error answering a repeat proves that an earlier try was applied. */
  repeatSucceeded?: (err: unknown) => boolean;
  /** Told about each transient error before the wait that follows it. */
  onTransient?: (err: unknown, tries: number) => void;
  /** Injected in unit tests. */
  now?: () => number;
  random?: () => number;
  pause?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Calls `call` until it answers, retrying transient errors with capped
 * exponential backoff and jitter until `giveUpAt` or the signal. Each try is
 * handed the time it may take: what is left before `giveUpAt`, within
 * MUTATION_TRY_TIMEOUT. A definitive error is thrown as is; running out of
 * time or being aborted throws RetryStopped.
 */
export async function retryTransient<T>(
  call: (timeoutMs: number) => Promise<T>,
  options: TransientRetryOptions,
): Promise<T | typeof ALREADY_APPLIED> {
  const now = options.now ?? Date.now;
  const pause = options.pause ?? abortablePause;
  let lastError: unknown;
  for (let tries = 1; ; tries++) {
    if (options.signal?.aborted) throw new RetryStopped('aborted', lastError);
    const timeoutMs = clamp(options.giveUpAt() - now(), MUTATION_TRY_TIMEOUT.minMs, MUTATION_TRY_TIMEOUT.maxMs);
    try {
      return await call(timeoutMs);
    } catch (err) {
      // An error caused by our own abort says nothing about the server.
      if (options.signal?.aborted) throw new RetryStopped('aborted', lastError ?? err);
      if (tries > 1 && options.repeatSucceeded?.(err)) return ALREADY_APPLIED;
      if (!isTransient(err)) throw err;
      lastError = err;
      options.onTransient?.(err, tries);
    }
    // The last try is made at the give-up time itself, never after it.
    const left = options.giveUpAt() - now();
    if (left <= 0) throw new RetryStopped('expired', lastError);
    await pause(
      Math.min(left, backoffDelay(tries, options.backoff ?? MUTATION_BACKOFF, options.random)),
      options.signal,
    );
  }
}

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));

/** setTimeout as a promise that an abort ends early (the caller then sees the signal aborted). */
export function abortablePause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
