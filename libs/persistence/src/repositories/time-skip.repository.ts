import type { Sql } from '../sql';
import { CLAIMABLE_STATUSES, LIVE_STATUSES, UNTIL_WOKEN } from '../transitions';

/*
 * TEST KIT ONLY (`@baton/testing`): never called by an app. Every timer of
 * the server is a timestamp compared with the database's now(), so skipping
 * time by D is moving every future due time D closer: runs' available_at,
 * wake_up_at and deadline_at, steps' wake_up_at and retry_at, schedules'
 * next_fire_at. Past timestamps (created_at, finished_at, ...) and leases
 * (locked_until) stay: the workers holding them live in real time. A run
 * parked UNTIL_WOKEN has no due time and stays parked. The environment's
 * database is its own, so "every" is the environment's.
 */

/** `col` is a due time still ahead (and not UNTIL_WOKEN, which no amount of time reaches). */
const ahead = (col: string) => `(${col} > now() AND ${col} < ${UNTIL_WOKEN})`;

/** `col` moved by the skip when it is ahead; NULL and past values stay. */
const moved = (col: string) => `CASE WHEN ${ahead(col)} THEN ${col} - (SELECT delta FROM skip) ELSE ${col} END`;

/**
 * The moving statement around a `skip` CTE that yields one row (ms, delta) or
 * none (nothing skipped). One statement: every timer moves at once, so no
 * pass of the watchdog or scheduler sees half a skip. Returns one row per
 * queue with a moved run (namespace NULL when none moved), none when not skipped.
 */
const shiftBy = (skip: string) => `
  WITH skip AS (${skip}), runs AS (
    UPDATE workflow_runs
    SET available_at = ${moved('available_at')}, wake_up_at = ${moved('wake_up_at')},
        deadline_at = ${moved('deadline_at')}
    WHERE status IN (${LIVE_STATUSES}) AND EXISTS (SELECT 1 FROM skip)
      AND (${ahead('available_at')} OR ${ahead('wake_up_at')} OR ${ahead('deadline_at')})
    RETURNING namespace, task_queue
  ), steps AS (
    UPDATE step_runs SET wake_up_at = ${moved('wake_up_at')}, retry_at = ${moved('retry_at')}
    WHERE EXISTS (SELECT 1 FROM skip) AND (${ahead('wake_up_at')} OR ${ahead('retry_at')})
    RETURNING 1
  ), fires AS (
    UPDATE schedules SET next_fire_at = ${moved('next_fire_at')}
    WHERE EXISTS (SELECT 1 FROM skip) AND ${ahead('next_fire_at')}
    RETURNING 1
  )
  SELECT s.ms::float8 AS skipped_ms, q.namespace, q.task_queue
  FROM skip s LEFT JOIN (SELECT DISTINCT namespace, task_queue FROM runs) q ON true`;

/** Skip $1 ms (a whole number, > 0). */
export const SKIP_TIME = shiftBy(`SELECT $1::bigint AS ms, $1::bigint * interval '1 millisecond' AS delta`);

/**
 * Something will happen without time passing: a run is RUNNING, a run is
 * claimable now by an ONLINE worker serving its type (a due run nobody can
 * take does not hold the clock: it would hold it for ever), a deadline or a
 * cron fire is due and the watchdog or scheduler is about to act on it.
 */
const BUSY = `
  SELECT 1 FROM workflow_runs WHERE status = 'RUNNING'
  UNION ALL
  SELECT 1 FROM workflow_runs r
  WHERE r.status IN (${CLAIMABLE_STATUSES}) AND r.available_at <= now()
    AND EXISTS (SELECT 1 FROM workers w WHERE w.status = 'ONLINE' AND w.namespace = r.namespace
                AND w.task_queue = r.task_queue AND r.workflow_type = ANY (w.workflow_types))
  UNION ALL
  SELECT 1 FROM workflow_runs WHERE status IN (${LIVE_STATUSES}) AND deadline_at <= now()
  UNION ALL
  SELECT 1 FROM schedules WHERE NOT paused AND next_fire_at <= now()`;

/**
 * The earliest due time ahead: a parked run's available_at (a sleeper's wake,
 * a retry, a signal wait's timeout), a live run's deadline, a cron fire.
 * LEAST ignores NULLs; NULL when nothing is ahead.
 */
const NEXT_DUE = `
  SELECT least(
    (SELECT min(available_at) FROM workflow_runs WHERE status IN (${CLAIMABLE_STATUSES}) AND ${ahead('available_at')}),
    (SELECT min(deadline_at) FROM workflow_runs WHERE status IN (${LIVE_STATUSES}) AND ${ahead('deadline_at')}),
    (SELECT min(next_fire_at) FROM schedules WHERE NOT paused AND ${ahead('next_fire_at')})
  ) AS at`;

/**
 * When nothing is busy, skip to just past the next due time (+1 ms: a
 * deadline fails only once strictly past, `deadline_at < now()`); else skip
 * nothing. Deciding and moving in one statement means no run can start
 * between "idle" and the skip as seen by this snapshot.
 */
export const SKIP_TO_NEXT_DUE = shiftBy(`
  SELECT ms, ms * interval '1 millisecond' AS delta
  FROM (SELECT ceil(extract(epoch FROM next.at - now()) * 1000)::bigint + 1 AS ms
        FROM (${NEXT_DUE}) next
        WHERE next.at IS NOT NULL AND NOT EXISTS (${BUSY})) due`);

/** A skip that happened: by how much, and the queues whose runs moved (to ring their doorbells). */
export interface TimeSkip {
  skippedMs: number;
  queues: Array<{ namespace: string; queue: string }>;
}

/**
 * Test-kit only: moves the environment's clock forward by moving its due
 * times back (see above). The apps' precise timers still hold the old due
 * times: the caller must nudge them (timer-due events, doorbells).
 */
export class TimeSkipRepository {
  constructor(private readonly sql: Sql) {}

  /** Every future due time `ms` closer (`ms` a whole number > 0). */
  async skip(ms: number): Promise<TimeSkip> {
    if (!Number.isSafeInteger(ms) || ms <= 0) throw new RangeError(`skip: ms must be a whole number > 0 (got ${ms})`);
    return (await this.shift(SKIP_TIME, [ms])) ?? { skippedMs: ms, queues: [] };
  }

  /** Null when something is busy or nothing is ahead; else the skip to just past the next due time. */
  skipToNextDue(): Promise<TimeSkip | null> {
    return this.shift(SKIP_TO_NEXT_DUE, []);
  }

  private async shift(text: string, params: unknown[]): Promise<TimeSkip | null> {
    const rows = await this.sql.rows<{ skipped_ms: number; namespace: string | null; task_queue: string | null }>(
      text,
      params,
    );
    if (rows.length === 0) return null;
    const queues = rows.flatMap((r) =>
      r.namespace === null ? [] : [{ namespace: r.namespace, queue: r.task_queue! }],
    );
    return { skippedMs: rows[0]!.skipped_ms, queues };
  }
}
