import type { Sql } from '../sql';
import { ms } from '../transitions';

/**
 * Terminal runs whose retention has passed, oldest first, at most $2, gone
 * with their payload and steps (ON DELETE CASCADE). The statuses and the
 * order are those of the partial index workflow_runs_retention, so the scan
 * reads only the rows it deletes; the ids go to the DELETE as an array, so
 * even a generic plan (a named statement, LIMIT unknown) finds them by
 * primary key rather than by hashing the whole table.
 *
 * SKIP LOCKED: a watchdog replica skips the rows another one is purging
 * (and any row someone else holds), so each run is deleted, and counted, by
 * exactly one statement. A fired run (schedule_id, fire_time) goes too:
 * firing a fire time again is prevented by the schedule's next_fire_at,
 * which only moves past fired times, not by keeping its run (see
 * docs/architecture.md, "Retention").
 */
const purgeExpired = (statuses: string) => `
  WITH purged AS (
    DELETE FROM workflow_runs
    WHERE id = ANY(ARRAY(
      SELECT id FROM workflow_runs
      WHERE status IN (${statuses}) AND finished_at < now() - ${ms('$1')}
      ORDER BY finished_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED))
    RETURNING 1
  )
  SELECT count(*)::int AS n FROM purged`;

export const PURGE_EXPIRED_RUNS = purgeExpired(`'COMPLETED','FAILED','CANCELLED'`);

/**
 * The same for TERMINATED runs, over their own partial index
 * (workflow_runs_retention_terminated): that status came after the index
 * above, which is left as it is rather than rebuilt on a large table.
 */
export const PURGE_EXPIRED_TERMINATED_RUNS = purgeExpired(`'TERMINATED'`);

/** Retention of finished runs (BATON_RETENTION); the watchdog calls it every BATON_RETENTION_INTERVAL. */
export class RetentionRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Deletes up to `batchSize` terminal runs that finished more than
   * `retentionMs` ago, in one statement per index (each its own short
   * transaction), with their history (ON DELETE CASCADE).
   * Returns how many this call deleted: a full batch means more may wait.
   */
  async purgeExpiredRuns(retentionMs: number, batchSize: number): Promise<number> {
    const [row] = await this.sql.rows<{ n: number }>(PURGE_EXPIRED_RUNS, [retentionMs, batchSize]);
    if (row!.n >= batchSize) return row!.n;
    const [terminated] = await this.sql.rows<{ n: number }>(PURGE_EXPIRED_TERMINATED_RUNS, [
      retentionMs,
      batchSize - row!.n,
    ]);
    return row!.n + terminated!.n;
  }
}
