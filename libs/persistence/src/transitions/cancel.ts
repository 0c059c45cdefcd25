import type { Querier, Row } from '../sql';
import { LIVE_STATUSES, UNLOCK } from './fragments';

/**
 * PENDING | RUNNING | SLEEPING → CANCELLED. Also returns the worker that held
 * the run (`cancelled_worker`, null unless it was RUNNING), read under the
 * row lock the update takes anyway, so the frontend can push the cancel to
 * that worker at once; its next heartbeat or mutation tells it otherwise.
 */
export const CANCEL_RUN = `
  UPDATE workflow_runs r
  SET status = 'CANCELLED', finished_at = now(), updated_at = now(), ${UNLOCK}, wake_up_at = NULL
  FROM (SELECT id, status, locked_by FROM workflow_runs WHERE id = $1 AND namespace = $2 FOR UPDATE) prior
  WHERE r.id = prior.id AND r.status IN (${LIVE_STATUSES})
  RETURNING r.*, CASE WHEN prior.status = 'RUNNING' THEN prior.locked_by END AS cancelled_worker`;

/** The cancelled row (with `cancelled_worker`), or null when the run is missing or already terminal. */
export async function cancelRun(q: Querier, namespace: string, id: string): Promise<Row | null> {
  const [row] = await q.rows(CANCEL_RUN, [id, namespace]);
  return row ?? null;
}
