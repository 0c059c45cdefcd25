import type { Sql } from '../sql';
import { ms } from './fragments';
import { movedRun } from './moved';
import type { MovedRun } from './moved';
import { budgetParams, recoverRuns, settledFor } from './recover';
import type { RecoveryBudget, Settledness } from './recover';

/**
 * ONLINE | DRAINING → OFFLINE for workers silent past the stale threshold ($1
 * ms), judged only once workers have had that long to speak since the last
 * outage ($3 pulse gap). $2 batch.
 */
export const EXPIRE_STALE_WORKERS = `
  UPDATE workers w SET status = 'OFFLINE', active_count = 0, updated_at = now()
  FROM (SELECT id FROM workers
        WHERE status <> 'OFFLINE' AND last_heartbeat_at < now() - ${ms('$1')} AND ${settledFor('$1', '$3')}
        ORDER BY last_heartbeat_at LIMIT $2 FOR UPDATE SKIP LOCKED) stale
  WHERE w.id = stale.id
  RETURNING w.id`;

/** Their runs, recovered at once (not at lease expiry). $5 = the workers. */
export const RECOVER_WORKERS_RUNS = recoverRuns(`
  SELECT id, delivered FROM workflow_runs WHERE status = 'RUNNING' AND locked_by = ANY($5::uuid[]) FOR UPDATE`);

/**
 * Two statements, not one: a claim for one of these workers that committed
 * while the first waited for the worker's row is invisible to its snapshot;
 * the second statement's fresh snapshot sees (and recovers) it, and claims
 * after the first see the worker OFFLINE.
 */
export async function expireStaleWorkers(
  sql: Sql,
  budget: RecoveryBudget,
  settled: Settledness,
  staleMs: number,
  batchSize: number,
): Promise<{ workers: string[]; runs: MovedRun[] }> {
  return sql.transaction(async (q) => {
    const workers = await q.rows<{ id: string }>(EXPIRE_STALE_WORKERS, [staleMs, batchSize, settled.pulseGapMs]);
    if (workers.length === 0) return { workers: [], runs: [] };
    const ids = workers.map((w) => w.id);
    const runs = await q.rows(RECOVER_WORKERS_RUNS, [...budgetParams(budget, 'worker stopped heartbeating'), ids]);
    return { workers: ids, runs: runs.map(movedRun) };
  });
}
