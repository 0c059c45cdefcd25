import { RunHistoryAction } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { LIVE_STATUSES, UNLOCK } from './fragments';
import { recordHistory } from './history';

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
  RETURNING r.*, CASE WHEN prior.status = 'RUNNING' THEN prior.locked_by END AS cancelled_worker,
            prior.status AS prior_status`;

/** CANCEL_RUN with its entry in the run's history (actor $3), in the same statement: the API's Cancel. */
export const CANCEL_RUN_AUDITED = `
  WITH run AS (${CANCEL_RUN}), audit AS (${recordHistory('run', {
    action: RunHistoryAction.CANCELLED,
    actor: '$3::text',
    reason: 'NULL',
    detail: `jsonb_build_object('from', run.prior_status)`,
  })}
  )
  SELECT * FROM run`;

/**
 * The cancelled row (with `cancelled_worker`), or null when the run is missing
 * or already terminal. `actor`: the API key that cancelled it, for the history.
 */
export async function cancelRun(
  q: Querier,
  namespace: string,
  id: string,
  actor: string | null = null,
): Promise<Row | null> {
  const [row] = await q.rows(CANCEL_RUN_AUDITED, [id, namespace, actor]);
  return row ?? null;
}
