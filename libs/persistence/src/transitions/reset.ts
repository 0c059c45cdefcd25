import { RunHistoryAction } from '@baton/contracts';
import type { Row, Sql } from '../sql';
import { detachChildren } from './child-runs';
import { UNLOCK } from './fragments';
import { releaseSignals } from './signal';
import { EXTERNAL_ID_FREE, RESTARTED, recordHistory } from './history';

/**
 * First half of a reset: the run locked (FOR UPDATE), with what the reset
 * needs to know of it, and the position (`seq`) of step $3, null when the run
 * recorded no such step. No row: no such run.
 */
export const LOCK_RUN_FOR_RESET = `
  SELECT r.id, r.status, r.locked_by, s.seq
  FROM workflow_runs r LEFT JOIN step_runs s ON s.run_id = r.id AND s.step_id = $3
  WHERE r.id = $1 AND r.namespace = $2
  FOR UPDATE OF r`;

/**
 * Second half, under that lock: any status → PENDING with every step from
 * position $2 on deleted (they run again), the run's output gone, and the run
 * restarted as RESTARTED says. A RUNNING run loses its lease (UNLOCK: its
 * token is cleared), so its worker's later mutations are refused; it becomes
 * claimable once no step kept before $2 still waits for a retry (its
 * retry_at), else now. A deleted wait gives its signal back (the wait, run
 * again, takes it again, as if the run had never passed that point), and a
 * deleted child step lets go of its child (run again, it starts a new one).
 * Guarded by the external id being free (a terminal run
 * whose key another live run took stays as it is: no row back).
 *
 * Two statements, not one: this one's snapshot is taken after the lock was
 * granted, so it sees (and deletes) every step the run's worker recorded up to
 * that moment; a single statement's snapshot could predate a step committed
 * while it waited for the lock, and leave that step behind.
 */
export const RESET_RUN = `
  WITH run AS (
    UPDATE workflow_runs r SET ${RESTARTED}, ${UNLOCK},
      available_at = greatest(now(), (SELECT max(k.retry_at) FROM step_runs k
                                      WHERE k.run_id = r.id AND k.seq < $2 AND k.status = 'FAILED' AND NOT k.final))
    WHERE r.id = $1 AND ${EXTERNAL_ID_FREE}
    RETURNING r.*
  ), steps AS (
    DELETE FROM step_runs s USING run WHERE s.run_id = run.id AND s.seq >= $2
    RETURNING s.step_id
  ), children AS (${detachChildren('$1', 'steps')}
  ), signals AS (${releaseSignals('$1', 'steps')}
  ), payload AS (
    UPDATE workflow_payloads p SET output = NULL, output_encoding = NULL
    FROM run WHERE p.run_id = run.id
    RETURNING p.input, p.input_encoding
  ), audit AS (${recordHistory('run', {
    action: RunHistoryAction.RESET,
    actor: '$3::text',
    reason: '$4::text',
    detail: `jsonb_build_object('from', $5::text, 'stepId', $6::text, 'seq', $2::text,
               'deletedSteps', (SELECT count(*) FROM steps)::text)`,
  })}
  )
  SELECT run.*, payload.input, payload.input_encoding, NULL::bytea AS output, NULL::text AS output_encoding
  FROM run LEFT JOIN payload ON true`;

export interface ResetCommand {
  namespace: string;
  runId: string;
  stepId: string;
  actor: string | null;
  reason: string | null;
}

/**
 * The reset, as one short transaction. `missing`: no such run; `unknownStep`:
 * the run recorded no step `stepId`; `externalIdTaken`: a terminal run whose
 * key a live run took meanwhile. Otherwise the restarted row (with its input)
 * and what the run was before: its status and, if RUNNING, its worker.
 */
export type ResetResult =
  | { reset: Row; priorStatus: string; heldBy: string | null }
  | { refused: 'missing' | 'unknownStep' | 'externalIdTaken' };

/** The reset, as one short transaction: lock and look (LOCK_RUN_FOR_RESET), then RESET_RUN. */
export async function resetRun(sql: Sql, cmd: ResetCommand): Promise<ResetResult> {
  return sql.transaction(async (q) => {
    const [locked] = await q.rows(LOCK_RUN_FOR_RESET, [cmd.runId, cmd.namespace, cmd.stepId]);
    if (!locked) return { refused: 'missing' };
    if (locked.seq === null) return { refused: 'unknownStep' };
    const [row] = await q.rows(RESET_RUN, [cmd.runId, locked.seq, cmd.actor, cmd.reason, locked.status, cmd.stepId]);
    if (!row) return { refused: 'externalIdTaken' };
    return { reset: row, priorStatus: locked.status, heldBy: locked.status === 'RUNNING' ? locked.locked_by : null };
  });
}
