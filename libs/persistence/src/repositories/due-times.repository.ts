import type { Sql } from '../sql';
import { CLAIMABLE_STATUSES, LIVE_STATUSES, UNTIL_WOKEN } from '../transitions';

/**
 * `expr`'s earliest value that is still ahead, as milliseconds from the
 * database's now() (so a skewed clock in the app cannot make a timer fire
 * early); null when none. Each scan is served by a partial index ordered by
 * `expr`: ORDER BY … LIMIT 1 reads its first entry past now(). (A min() lets
 * a generic plan made while the table was small pick any index on the
 * filter's first column: W1 caught it walking every run of the namespace
 * through workflow_runs_listing, 0.7 ms instead of 0.02 ms, on every claim
 * round.) A run parked UNTIL_WOKEN has no due time: it is skipped
 * (PostgreSQL cannot subtract an infinite timestamp).
 */
const untilEarliest = (expr: string, from: string, ahead: '>' | '>=') => `
  SELECT (extract(epoch FROM (
    SELECT ${expr} FROM ${from} AND ${expr} ${ahead} now() AND ${expr} < ${UNTIL_WOKEN} ORDER BY ${expr} LIMIT 1
  ) - now()) * 1000)::float8 AS in_ms`;

/** Sleepers: the wake transition takes wake_up_at <= now(), so the next one is strictly ahead (workflow_runs_sleeping). */
export const NEXT_WAKE = untilEarliest('wake_up_at', `workflow_runs WHERE status = 'SLEEPING'`, '>');

/** Deadlines: the deadline transition takes deadline_at < now(), so one equal to now() is still ahead (workflow_runs_deadline). */
export const NEXT_DEADLINE = untilEarliest(
  'deadline_at',
  `workflow_runs WHERE deadline_at IS NOT NULL AND status IN (${LIVE_STATUSES})`,
  '>=',
);

/** Schedules: fireDue takes next_fire_at <= now() (schedules_due). */
export const NEXT_FIRE = untilEarliest('next_fire_at', `schedules WHERE NOT paused`, '>');

/** A queue's parked runs (retries, sleepers, recoveries with backoff): the claim takes available_at <= now() (workflow_runs_claimable). */
export const NEXT_AVAILABLE = untilEarliest(
  'available_at',
  `workflow_runs WHERE namespace = $1 AND task_queue = $2 AND status IN (${CLAIMABLE_STATUSES})`,
  '>',
);

/**
 * Read-only: when the next thing of each kind comes due, for the precise
 * timers of the watchdog, scheduler and matching. Each answer is "in N ms"
 * (from the database's clock) or null when nothing is ahead. A timer armed
 * from it only triggers a pass; the pass's own guarded statement decides what
 * is due, so a timer that fires early moves nothing.
 */
export class DueTimesRepository {
  constructor(private readonly sql: Sql) {}

  nextWake(): Promise<number | null> {
    return this.inMs(NEXT_WAKE, []);
  }

  nextDeadline(): Promise<number | null> {
    return this.inMs(NEXT_DEADLINE, []);
  }

  nextFire(): Promise<number | null> {
    return this.inMs(NEXT_FIRE, []);
  }

  /** The earliest future available_at of a claimable run on (namespace, queue). */
  nextAvailable(namespace: string, queue: string): Promise<number | null> {
    return this.inMs(NEXT_AVAILABLE, [namespace, queue]);
  }

  private async inMs(text: string, params: unknown[]): Promise<number | null> {
    const [row] = await this.sql.rows<{ in_ms: number | null }>(text, params);
    return row?.in_ms ?? null;
  }
}
