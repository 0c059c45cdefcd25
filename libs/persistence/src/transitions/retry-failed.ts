import { RunHistoryAction } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { detachChildren } from './child-runs';
import { EXTERNAL_ID_FREE, RESTARTED, recordHistory } from './history';

/**
 * FAILED → PENDING (an operator's Retry), from where the run failed, in one
 * statement: every COMPLETED step stays and replays from its output; every
 * function step that did not complete (the one that failed for good, one
 * caught by the workflow, one cut short by the deadline) is deleted, so it
 * runs again from its first attempt. So does a child step whose child
 * failed: it lets go of that child and, run again, starts a new one. Sleeps stay with their wake times (a
 * sleep that ended stays ended). The run restarts as RESTARTED says.
 *
 * A FAILED run has no lease, so no worker writes its steps meanwhile: the
 * statement's one snapshot sees them all. Guarded by status FAILED and by its
 * external id being free; no row back means one of the two, or no such run.
 * The entry keeps what the retry undid: the attempts spent and the error.
 */
export const RETRY_FAILED_RUN = `
  WITH prior AS (
    SELECT id, attempt, left(error_message, 1024) AS error FROM workflow_runs
    WHERE id = $1 AND namespace = $2 FOR UPDATE
  ), run AS (
    UPDATE workflow_runs r SET ${RESTARTED}, available_at = now()
    FROM prior
    WHERE r.id = prior.id AND r.status = 'FAILED' AND ${EXTERNAL_ID_FREE}
    RETURNING r.*, prior.attempt AS prior_attempt, prior.error AS prior_error
  ), steps AS (
    DELETE FROM step_runs s USING run
    WHERE s.run_id = run.id AND s.kind IN ('FUNCTION','CHILD') AND s.status <> 'COMPLETED'
    RETURNING s.step_id
  ), children AS (${detachChildren('$1', 'steps')}
  ), audit AS (${recordHistory('run', {
    action: RunHistoryAction.RETRIED,
    actor: '$3::text',
    reason: '$4::text',
    detail: `jsonb_strip_nulls(jsonb_build_object('from', 'FAILED', 'attempts', run.prior_attempt::text,
               'error', run.prior_error, 'steps', (SELECT string_agg(step_id, ', ') FROM steps)))`,
  })}
  )
  SELECT run.*, p.input, p.input_encoding, p.output, p.output_encoding
  FROM run LEFT JOIN workflow_payloads p ON p.run_id = run.id`;

/** The restarted row (with its payloads), or null: no such run, not FAILED, or its external id is taken. */
export async function retryFailedRun(
  q: Querier,
  namespace: string,
  id: string,
  actor: string | null,
  reason: string | null,
): Promise<Row | null> {
  const [row] = await q.rows(RETRY_FAILED_RUN, [id, namespace, actor, reason]);
  return row ?? null;
}
