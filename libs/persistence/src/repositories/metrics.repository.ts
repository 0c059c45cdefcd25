import type { Sql } from '../sql';
import { CLAIMABLE_NOW, queueCounterRows } from '../transitions';

/** Every queue's backlog and workers, read at scrape time for the watchdog's gauges. */
export interface QueueGauges {
  queues: Array<{
    namespace: string;
    queue: string;
    pending: number;
    running: number;
    sleeping: number;
    /** Seconds the oldest claimable run has waited; 0 when none waits. */
    oldestClaimableAgeS: number;
    /** Workers with status ONLINE on the queue. */
    workersOnline: number;
  }>;
}

/*
 * One statement per scrape, cheap at any backlog: the counts are the folded
 * queue_counters rows plus the deltas not folded yet (as CountersRepository
 * sums them), never a count over workflow_runs; the oldest claimable run of
 * each queue is the first entry of the claim index (workflow_runs_claimable)
 * for it; the ONLINE workers are the live ones of workers_identity. A queue
 * shows once it has counters (any run ever started on it) or an ONLINE worker.
 */
const QUEUE_GAUGES = `
  WITH counts AS (
    SELECT namespace, task_queue, sum(pending) AS pending, sum(running) AS running, sum(sleeping) AS sleeping
    FROM ${queueCounterRows()} c
    GROUP BY namespace, task_queue
  ), online AS (
    SELECT namespace, task_queue, count(*) AS workers FROM workers WHERE status = 'ONLINE' GROUP BY namespace, task_queue
  ), queues AS (
    SELECT namespace, task_queue FROM counts UNION SELECT namespace, task_queue FROM online
  )
  SELECT q.namespace, q.task_queue, coalesce(c.pending, 0)::bigint AS pending,
         coalesce(c.running, 0)::bigint AS running, coalesce(c.sleeping, 0)::bigint AS sleeping,
         coalesce(o.workers, 0)::int AS workers_online,
         coalesce(extract(epoch FROM now() - oldest.available_at), 0)::float8 AS oldest_age_s
  FROM queues q
  LEFT JOIN counts c ON c.namespace = q.namespace AND c.task_queue = q.task_queue
  LEFT JOIN online o ON o.namespace = q.namespace AND o.task_queue = q.task_queue
  LEFT JOIN LATERAL (
    SELECT r.available_at FROM workflow_runs r
    WHERE r.namespace = q.namespace AND r.task_queue = q.task_queue AND ${CLAIMABLE_NOW}
    ORDER BY r.available_at LIMIT 1
  ) oldest ON true`;

/** Reads for Prometheus gauges (served by the watchdog at scrape time). */
export class MetricsRepository {
  constructor(private readonly sql: Sql) {}

  async queueGauges(): Promise<QueueGauges> {
    const rows = await this.sql.rows(QUEUE_GAUGES);
    return {
      queues: rows.map((row) => ({
        namespace: row.namespace,
        queue: row.task_queue,
        pending: Number(row.pending),
        running: Number(row.running),
        sleeping: Number(row.sleeping),
        oldestClaimableAgeS: Math.max(0, Number(row.oldest_age_s)),
        workersOnline: row.workers_online,
      })),
    };
  }
}
