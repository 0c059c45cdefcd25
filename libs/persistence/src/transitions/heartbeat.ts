import type { WorkerStatus } from '@baton/contracts';
import type { Querier } from '../sql';
import { ms } from './fragments';

/**
 * A heartbeat records the worker's liveness and, for every run it reports,
 * acknowledges delivery (a claim's short first lease becomes a full lease)
 * and extends the lease, in one statement. Reported runs not extended are
 * lost to it. The active count is what it reports and still holds. The worker
 * row is locked before the runs, as everywhere else, and the runs in id order,
 * as the group commits lock them (in any other order the two can deadlock).
 */
export const HEARTBEAT = `
  WITH w AS (
    UPDATE workers
    SET last_heartbeat_at = now(), updated_at = now(),
        active_count = (SELECT count(*) FROM workflow_runs
                        WHERE id = ANY ($2::uuid[]) AND locked_by = $1 AND status = 'RUNNING')
    WHERE id = $1 AND namespace = $4 AND status <> 'OFFLINE'
    RETURNING status
  ), owned AS (
    SELECT id FROM workflow_runs
    WHERE locked_by = $1 AND status = 'RUNNING' AND id = ANY($2::uuid[]) AND EXISTS (SELECT 1 FROM w)
    ORDER BY id FOR NO KEY UPDATE
  ), extended AS (
    UPDATE workflow_runs SET locked_until = now() + ${ms('$3')}, delivered = true
    FROM owned WHERE workflow_runs.id = owned.id
    RETURNING workflow_runs.id
  )
  SELECT (SELECT status FROM w) AS status, coalesce((SELECT array_agg(id) FROM extended), '{}') AS extended`;

export interface HeartbeatResult {
  /** null: the worker is unknown or OFFLINE and must register again. */
  status: WorkerStatus | null;
  /** Reported runs this worker no longer owns (cancelled, timed out, or taken over). */
  lostRunIds: string[];
}

/** Worker liveness + RUNNING → RUNNING (delivered, lease extended) for the runs it reports. */
export async function heartbeat(
  q: Querier,
  namespace: string,
  workerId: string,
  activeRunIds: string[],
  leaseMs: number,
): Promise<HeartbeatResult> {
  const [row] = await q.rows(HEARTBEAT, [workerId, activeRunIds, leaseMs, namespace]);
  const extended = new Set<string>(row!.extended);
  return {
    status: row!.status,
    lostRunIds: row!.status ? activeRunIds.filter((id) => !extended.has(id)) : activeRunIds,
  };
}
