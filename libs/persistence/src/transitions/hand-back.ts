import type { Sql } from '../sql';
import { UNLOCK } from './fragments';

/** ONLINE | DRAINING → OFFLINE: the worker leaves on its own. */
export const DEREGISTER_WORKER = `
  UPDATE workers SET status = 'OFFLINE', active_count = 0, updated_at = now()
  WHERE id = $1 AND namespace = $2 AND status <> 'OFFLINE' RETURNING *`;

/**
 * RUNNING → PENDING now for every run it still holds: a worker that says it is
 * going (a deploy, a stop after its grace period) costs its runs nothing.
 */
export const HAND_BACK_RUNS = `
  UPDATE workflow_runs SET status = 'PENDING', ${UNLOCK}, available_at = now(), updated_at = now()
  WHERE locked_by = $1 AND status = 'RUNNING'`;

/**
 * Two statements, not one: a claim for this worker that committed while the
 * first waited for the worker's row is invisible to a snapshot taken before;
 * the second statement's fresh snapshot sees (and frees) it, and claims after
 * the first see the worker OFFLINE.
 */
export async function deregisterAndHandBack(
  sql: Sql,
  namespace: string,
  workerId: string,
): Promise<Record<string, unknown> | null> {
  return sql.transaction(async (q) => {
    const [offline] = await q.rows(DEREGISTER_WORKER, [workerId, namespace]);
    if (!offline) return null;
    await q.rows(HAND_BACK_RUNS, [workerId]);
    return offline;
  });
}
