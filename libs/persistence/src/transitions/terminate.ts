import { RunHistoryAction, TERMINATED_ERROR_TYPE } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { LIVE_STATUSES, UNLOCK } from './fragments';
import { recordHistory } from './history';

/**
 * PENDING | RUNNING | SLEEPING → TERMINATED, with the operator's reason ($3)
 * as the run's error (type WorkflowTerminated) and an entry in its history
 * (actor $4), in one statement. No cleanup: the lease goes (UNLOCK), so the
 * worker that held the run can change nothing more, and the frontend pushes
 * the run to that worker (`held_by`, read under the row lock the update takes
 * anyway) so its handler stops now. `prior_status` is what the run was.
 */
export const TERMINATE_RUN = `
  WITH prior AS (
    SELECT id, status, locked_by FROM workflow_runs WHERE id = $1 AND namespace = $2 FOR UPDATE
  ), run AS (
    UPDATE workflow_runs r
    SET status = 'TERMINATED', finished_at = now(), updated_at = now(), ${UNLOCK}, wake_up_at = NULL,
        error_message = $3, error_type = '${TERMINATED_ERROR_TYPE}', error_stack = NULL, error_non_retryable = true
    FROM prior
    WHERE r.id = prior.id AND r.status IN (${LIVE_STATUSES})
    RETURNING r.*, prior.status AS prior_status, CASE WHEN prior.status = 'RUNNING' THEN prior.locked_by END AS held_by
  ), audit AS (${recordHistory('run', {
    action: RunHistoryAction.TERMINATED,
    actor: '$4::text',
    reason: '$3',
    detail: `jsonb_build_object('from', run.prior_status)`,
  })}
  )
  SELECT run.*, p.input, p.input_encoding, p.output, p.output_encoding
  FROM run LEFT JOIN workflow_payloads p ON p.run_id = run.id`;

/** The terminated row (with `held_by`, `prior_status` and its payloads), or null when the run is missing or already terminal. */
export async function terminateRun(
  q: Querier,
  namespace: string,
  id: string,
  reason: string,
  actor: string | null,
): Promise<Row | null> {
  const [row] = await q.rows(TERMINATE_RUN, [id, namespace, reason, actor]);
  return row ?? null;
}
