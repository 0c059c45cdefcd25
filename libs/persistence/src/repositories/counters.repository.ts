import type { QueueStats } from '@baton/contracts';
import type { Sql } from '../sql';

/**
 * Queue counters. Transitions append deltas through triggers (same
 * transaction, no hot row); `fold` sums them into queue_counters; `reconcile`
 * re-derives the counts from the runs and repairs any drift.
 */
export class CountersRepository {
  constructor(private readonly sql: Sql) {}

  /** Moves all deltas into queue_counters; returns how many delta rows were folded. */
  async fold(): Promise<number> {
    const [row] = await this.sql.rows(
      `WITH folded AS (DELETE FROM queue_counter_deltas RETURNING namespace, task_queue, pending, running, sleeping),
       summed AS (
         SELECT namespace, task_queue, sum(pending) AS pending, sum(running) AS running, sum(sleeping) AS sleeping,
                count(*) AS n
         FROM folded GROUP BY namespace, task_queue
       ), upserted AS (
         INSERT INTO queue_counters (namespace, task_queue, pending, running, sleeping)
         SELECT namespace, task_queue, pending, running, sleeping FROM summed
         ON CONFLICT (namespace, task_queue) DO UPDATE
         SET pending = queue_counters.pending + excluded.pending, running = queue_counters.running + excluded.running,
             sleeping = queue_counters.sleeping + excluded.sleeping
       )
       SELECT coalesce(sum(n), 0)::int AS n FROM summed`,
    );
    return row!.n;
  }

  /**
   * Re-derives every queue's counts from workflow_runs and repairs drift with
   * one correcting delta per queue. Returns the queues whose counters had drifted.
   *
   * No table lock: the comparison is one statement, so it reads one snapshot in
   * which every transition's run change and its delta (same transaction), and
   * every fold (one statement), are either both visible or both not — drift
   * computed there is real drift, and a correcting delta commutes with whatever
   * commits after. Locking the deltas table instead would stall every
   * transition in the database for the length of the scan. Reconcilers on
   * several replicas take turns on an advisory lock, so a drift is repaired
   * once; each statement after the lock reads a snapshot that includes the
   * previous reconciler's correction.
   */
  async reconcile(): Promise<Array<QueueStats & { drift: { pending: number; running: number; sleeping: number } }>> {
    return this.sql.transaction(async (q) => {
      await q.rows(`SELECT pg_advisory_xact_lock(hashtext('baton.reconcile-counters'))`);
      const rows = await q.rows(
        `WITH actual AS (
           SELECT namespace, task_queue, count(*) FILTER (WHERE status = 'PENDING') AS pending,
                  count(*) FILTER (WHERE status = 'RUNNING') AS running,
                  count(*) FILTER (WHERE status = 'SLEEPING') AS sleeping
           FROM workflow_runs WHERE status IN ('PENDING','RUNNING','SLEEPING') GROUP BY namespace, task_queue
         ), recorded AS (
           SELECT namespace, task_queue, sum(pending) AS pending, sum(running) AS running, sum(sleeping) AS sleeping
           FROM (SELECT namespace, task_queue, pending, running, sleeping FROM queue_counters
                 UNION ALL SELECT namespace, task_queue, pending, running, sleeping FROM queue_counter_deltas) u
           GROUP BY namespace, task_queue
         )
         SELECT coalesce(a.namespace, r.namespace) AS namespace, coalesce(a.task_queue, r.task_queue) AS task_queue,
                coalesce(a.pending, 0) AS pending, coalesce(a.running, 0) AS running, coalesce(a.sleeping, 0) AS sleeping,
                coalesce(a.pending, 0) - coalesce(r.pending, 0) AS d_pending,
                coalesce(a.running, 0) - coalesce(r.running, 0) AS d_running,
                coalesce(a.sleeping, 0) - coalesce(r.sleeping, 0) AS d_sleeping
         FROM actual a FULL JOIN recorded r ON r.namespace = a.namespace AND r.task_queue = a.task_queue
         WHERE coalesce(a.pending, 0) <> coalesce(r.pending, 0) OR coalesce(a.running, 0) <> coalesce(r.running, 0)
            OR coalesce(a.sleeping, 0) <> coalesce(r.sleeping, 0)`,
      );
      for (const r of rows) {
        await q.rows(
          `INSERT INTO queue_counter_deltas (namespace, task_queue, pending, running, sleeping) VALUES ($1, $2, $3, $4, $5)`,
          [r.namespace, r.task_queue, r.d_pending, r.d_running, r.d_sleeping],
        );
      }
      return rows.map((r) => ({
        namespace: r.namespace,
        queue: r.task_queue,
        pending: Number(r.pending),
        running: Number(r.running),
        sleeping: Number(r.sleeping),
        drift: { pending: Number(r.d_pending), running: Number(r.d_running), sleeping: Number(r.d_sleeping) },
      }));
    });
  }
}
