/** The longest delay setTimeout takes (about 24.8 days); a later due time is re-read when it fires. */
const MAX_DELAY_MS = 2_147_483_647;

/**
 * A precise timer: one setTimeout for the earliest known due time of one kind
 * (a sleeper's wake, a deadline, a cron fire, a parked run on a queue).
 * Events arm it sooner (`arm`); after each pass its owner replaces the due
 * time with a fresh read from the database (`refresh`), which forgets times
 * that were served or cancelled. It only triggers a pass: what is due is
 * decided by the pass's own guarded statement against the database's clock,
 * so a fire that comes early moves nothing, and the refresh after that pass
 * arms it again. The periodic tick stays as the fallback for lost events.
 */
export class DueTimer {
  private dueAt = Infinity;
  private timer?: NodeJS.Timeout;
  private closed = false;
  /** One entry per refresh in flight: the earliest time armed while it read (its answer may predate it). */
  private readonly heard = new Set<{ min: number }>();

  constructor(private readonly onDue: () => void) {}

  /** The armed due time (epoch ms), Infinity when none. */
  get next(): number {
    return this.dueAt;
  }

  /** Something is due at `at` (epoch ms): fire then, unless armed sooner already. */
  arm(at: number): void {
    for (const mark of this.heard) mark.min = Math.min(mark.min, at);
    if (at < this.dueAt) this.set(at);
  }

  /**
   * Replaces the due time with `read()`'s answer: in how many ms (by the
   * database's clock) the next one comes, or null when none is ahead. Times
   * armed while it read are kept. A failed read leaves the timer as it was.
   */
  async refresh(read: () => Promise<number | null>): Promise<void> {
    const mark = { min: Infinity };
    this.heard.add(mark);
    try {
      const inMs = await read();
      // Counted from when the answer arrived, not when the query left: late by a round trip, never early.
      const at = inMs === null ? Infinity : Date.now() + Math.max(0, inMs);
      this.set(Math.min(at, mark.min));
    } finally {
      this.heard.delete(mark);
    }
  }

  /** Forgets the due time (the owner will read it again). */
  clear(): void {
    this.set(Infinity);
  }

  close(): void {
    this.closed = true;
    this.clear();
  }

  private set(at: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.dueAt = this.closed ? Infinity : at;
    if (this.dueAt === Infinity) return;
    // setTimeout counts whole ms and may round down: +1 keeps it from firing before `at`.
    const delay = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(this.dueAt - Date.now()) + 1));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      this.onDue();
    }, delay);
    this.timer.unref();
  }
}
