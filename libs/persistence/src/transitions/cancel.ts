import type { Querier, Row } from '../sql';
import { LIVE_STATUSES, UNLOCK } from './fragments';

/** PENDING | RUNNING | SLEEPING → CANCELLED; a running worker learns it at its next heartbeat or mutation. */
export const CANCEL_RUN = `
  UPDATE workflow_runs
  SET status = 'CANCELLED', finished_at = now(), updated_at = now(), ${UNLOCK}, wake_up_at = NULL
  WHERE id = $1 AND namespace = $2 AND status IN (${LIVE_STATUSES})
  RETURNING *`;

/** The cancelled row, or null when the run is missing or already terminal. */
export async function cancelRun(q: Querier, namespace: string, id: string): Promise<Row | null> {
  const [row] = await q.rows(CANCEL_RUN, [id, namespace]);
  return row ?? null;
}
