import type { Sql } from '../sql';
import { CLAIMABLE_STATUSES, LIVE_STATUSES, UNTIL_WOKEN, ms } from '../transitions';

/**
 * `expr`'s earliest value that is still ahead, as milliseconds from the
 * database's now() (so a skewed clock in the app cannot make a timer fire
 * early); null when none. Each scan is served by a partial index ordered by
 * `expr`: ORDER BY … LIMIT 1 reads its first entry past now(). (A min() lets
 * a generic plan made while the table was small pick any index on the
 * filter's first column: W1 caught it walking every run of the namespace
 * through workflow_runs_listing, 0.7 ms instead of 0.02 ms, on every claim
 * round.) A run parked UNTIL_WOKEN has no due time: it is skipped
 * (PostgreSQL cannot subtract an infinite timestamp). `since` is the
 * instant after which a due time counts as still to come: now(), or a
 * moment before it (see NEXT_WAKE and NEXT_AVAILABLE), when the answer may
 * be negative (already due).
 */
const untilEarliest = (expr: string, from: string, ahead: '>' | '>=', since = 'now()') => `
  SELECT (extract(epoch FROM (
    SELECT ${expr} FROM ${from} AND ${expr} ${ahead} ${since} AND ${expr} < ${UNTIL_WOKEN} ORDER BY ${expr} LIMIT 1
  ) - now()) * 1000)::float8 AS in_ms`;

/**
 * Sleepers: the wake transition takes wake_up_at <= now(). The watchdog's
 * pass runs $1 ms (its grace) after a wake time, so a sleeper that came due
 * less than $1 ms ago is still one to come for it (workflow_runs_sleeping).
 */
export const NEXT_WAKE = untilEarliest(
  'wake_up_at',
  `workflow_runs WHERE status = 'SLEEPING'`,
  '>',
  `now() - ${ms('$1')}`,
);

/** Deadlines: the deadline transition takes deadline_at < now(), so one equal to now() is still ahead (workflow_runs_deadline). */
export const NEXT_DEADLINE = untilEarliest(
  'deadline_at',
  `workflow_runs WHERE deadline_at IS NOT NULL AND status IN (${LIVE_STATUSES})`,
  '>=',
);

/** Schedules: fireDue takes next_fire_at <= now() (schedules_due). */
export const NEXT_FIRE = untilEarliest('next_fire_at', `schedules WHERE NOT paused`, '>');

/**
 * A queue's parked runs (retries, sleepers, recoveries with backoff): the
 * claim takes available_at <= now() (workflow_runs_claimable). Matching
 * reads this after a claim round; a run that came due while the round's
 * claims ran was not claimable to them yet, nor is it ahead of this read's
 * now(). So the read looks back $3 ms (the round's length, measured by
 * matching from before its first claim was sent, which covers the claims'
 * snapshots) and answers such a run as due now (a negative time): claimed
 * at once, not left to the next ring. A run due before the round began was
 * the round's to claim and is not looked at again, so a run the workers'
 * limits hold back costs at most one more round, never a loop.
 */
export const NEXT_AVAILABLE = untilEarliest(
  'available_at',
  `workflow_runs WHERE namespace = $1 AND task_queue = $2 AND status IN (${CLAIMABLE_STATUSES})`,
  '>',
  `now() - ${ms('$3')}`,
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

  /** When the watchdog's next pass for sleepers is due: `graceMs` after the earliest wake time it has not passed by that much. */
  async nextWake(graceMs: number): Promise<number | null> {
    const inMs = await this.inMs(NEXT_WAKE, [graceMs]);
    return inMs === null ? null : inMs + graceMs;
  }

  nextDeadline(): Promise<number | null> {
    return this.inMs(NEXT_DEADLINE, []);
  }

  nextFire(): Promise<number | null> {
    return this.inMs(NEXT_FIRE, []);
  }

  /**
   * The earliest available_at of a claimable run on (namespace, queue) that
   * is ahead or came due in the last `lookbackMs` (then negative: due now).
   */
  nextAvailable(namespace: string, queue: string, lookbackMs = 0): Promise<number | null> {
    return this.inMs(NEXT_AVAILABLE, [namespace, queue, Math.max(0, Math.ceil(lookbackMs))]);
  }

  private async inMs(text: string, params: unknown[]): Promise<number | null> {
    const [row] = await this.sql.rows<{ in_ms: number | null }>(text, params);
    return row?.in_ms ?? null;
  }
}
