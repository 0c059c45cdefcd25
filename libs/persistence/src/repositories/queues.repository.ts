import { BatonError } from '@baton/contracts';
import type { QueueStats } from '@baton/contracts';
import type { Row, Sql } from '../sql';
import { CLAIMABLE_STATUSES, queueCounterRows } from '../transitions';

/** A queue's backlog: its counters, and how long its oldest claimable run has waited (null: none waits). */
export interface QueueBacklog extends QueueStats {
  oldestClaimableAgeMs: number | null;
}

/*
 * A queue exists in a namespace once it has a counters row or an unfolded
 * delta (every run ever started on it leaves one: the insert trigger writes a
 * delta, folded into a row that stays, at zero, after its runs finish or are
 * purged), or while a worker is registered on it (ONLINE or DRAINING). A name
 * with none of these is NOT_FOUND: a queue nothing ever used is a typo, not
 * an empty queue. OFFLINE workers do not count: they are history, kept for
 * ListWorkers, and counting them would need a scan of every worker that ever
 * lived; the live ones are in workers_identity.
 *
 * $1 namespace, $2 one queue or NULL for all. Counters are the folded row
 * plus the deltas not yet folded (queueCounterRows).
 * The oldest claimable run (PENDING, or SLEEPING and due, with available_at
 * <= now(): what a poll would take next) is the first entry of the claim
 * index workflow_runs_claimable for the queue.
 */
const QUEUE_BACKLOG = `
  WITH counts AS (
    SELECT task_queue, sum(pending) AS pending, sum(running) AS running, sum(sleeping) AS sleeping
    FROM ${queueCounterRows('namespace = $1 AND ($2::text IS NULL OR task_queue = $2)')} c
    GROUP BY task_queue
  ), queues AS (
    SELECT task_queue FROM counts
    UNION
    SELECT task_queue FROM workers
    WHERE namespace = $1 AND ($2::text IS NULL OR task_queue = $2) AND status <> 'OFFLINE'
  )
  SELECT q.task_queue, coalesce(c.pending, 0)::bigint AS pending, coalesce(c.running, 0)::bigint AS running,
         coalesce(c.sleeping, 0)::bigint AS sleeping,
         (SELECT (extract(epoch FROM now() - min(r.available_at)) * 1000)::float8
          FROM workflow_runs r
          WHERE r.namespace = $1 AND r.task_queue = q.task_queue AND r.status IN (${CLAIMABLE_STATUSES})
            AND r.available_at <= now()) AS oldest_claimable_age_ms
  FROM queues q LEFT JOIN counts c ON c.task_queue = q.task_queue
  ORDER BY q.task_queue`;

function toBacklog(namespace: string, row: Row): QueueBacklog {
  const age = row.oldest_claimable_age_ms;
  return {
    namespace,
    queue: row.task_queue,
    pending: Number(row.pending),
    running: Number(row.running),
    sleeping: Number(row.sleeping),
    oldestClaimableAgeMs: age === null ? null : Math.max(0, Math.floor(age)),
  };
}

/** Queues as operators see them (AdminService ListQueues and QueueStats). */
export class QueuesRepository {
  constructor(private readonly sql: Sql) {}

  /** Every queue of the namespace that exists (see above), by name. */
  async list(namespace: string): Promise<QueueBacklog[]> {
    const rows = await this.sql.rows(QUEUE_BACKLOG, [namespace, null]);
    return rows.map((row) => toBacklog(namespace, row));
  }

  /** The counters of one queue; NOT_FOUND when the queue does not exist (see above). */
  async stats(namespace: string, queue: string): Promise<QueueStats> {
    const [row] = await this.sql.rows(QUEUE_BACKLOG, [namespace, queue]);
    if (!row) throw BatonError.notFound(`queue "${queue}"`);
    const { pending, running, sleeping } = toBacklog(namespace, row);
    return { namespace, queue, pending, running, sleeping };
  }
}
