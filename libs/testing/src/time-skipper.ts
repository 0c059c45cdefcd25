import { parseBoundedDuration } from '@baton/contracts';
import type { Duration } from '@baton/contracts';
import type { TimeSkip } from '@baton/persistence';

/** Where skips happen: the environment's database (TimeSkipRepository), or a fake in unit tests. */
export interface SkipStore {
  skip(ms: number): Promise<TimeSkip>;
  skipToNextDue(): Promise<TimeSkip | null>;
}

/** Far beyond any timer a test sets, well inside PostgreSQL's timestamp range. */
export const MAX_SKIP_MS = 100 * 365 * 24 * 60 * 60 * 1000;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The environment's virtual clock. Skips are serialised (two skips computed
 * from one snapshot would skip twice); after each one `nudge` tells the
 * server's precise timers to read their due times again. While someone
 * waits for a run (`during`), one loop asks the store every `idlePollMs` to
 * skip to the next due time if nothing is busy; the store decides "idle"
 * and moves the timers in one statement.
 */
export class TimeSkipper {
  private offsetMs = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private waiters = 0;
  private loop: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly store: SkipStore,
    private readonly nudge: (skip: TimeSkip) => void,
    private readonly idlePollMs = 25,
  ) {}

  /** Real time plus every skip so far. */
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  /** The sum of every skip so far, in ms. */
  get skippedMs(): number {
    return this.offsetMs;
  }

  /**
   * Moves the clock forward by `duration` (0 does nothing; never back; at
   * most MAX_SKIP_MS); resolves once the timers have moved.
   */
  async skip(duration: Duration): Promise<void> {
    const ms = parseBoundedDuration(duration, 'duration', MAX_SKIP_MS);
    if (ms === 0) return;
    this.applied(await this.exclusive(() => this.store.skip(ms)));
  }

  /**
   * Settles as `work` does, skipping time whenever the environment is idle
   * meanwhile. A failed skip fails the wait: time would stand still for ever.
   */
  async during<T>(work: Promise<T>): Promise<T> {
    this.waiters++;
    const loop = (this.loop ??= this.skipWhileWaited());
    try {
      return await Promise.race([work, loop.then(() => work)]);
    } finally {
      this.waiters--;
    }
  }

  /** No more skips; waits for the one in flight. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.tail, this.loop]);
  }

  private async skipWhileWaited(): Promise<void> {
    try {
      while (this.waiters > 0 && !this.closed) {
        const skip = await this.exclusive(() => this.store.skipToNextDue());
        if (skip) this.applied(skip);
        // Also after a skip: the server gets a moment to take what came due before the next look.
        await pause(this.idlePollMs);
      }
    } finally {
      this.loop = undefined;
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the test environment is stopped: time can no longer skip'));
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private applied(skip: TimeSkip): void {
    this.offsetMs += skip.skippedMs;
    this.nudge(skip);
  }
}
