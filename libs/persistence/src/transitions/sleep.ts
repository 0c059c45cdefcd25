import type { Querier } from '../sql';
import { UNLOCK, ms } from './fragments';
import { FREE_SEQ, LEASE_GUARD, checkStepPosition, holdsLease, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';

/**
 * RUNNING → SLEEPING until $7 ms after the sleep began, or until the wake time
 * already recorded for this step (a replayed sleep never restarts its clock).
 * The sleep began $8 ms before now: the time its call waited in the worker
 * (at most $7, so the wake time is never before now); the step's started_at
 * is that moment, so wake_up_at − started_at is the duration asked for. The
 * run's available_at is its wake time, so matching can claim a due sleeper
 * directly; the SLEEP step row is written in the same statement.
 */
export const SLEEP = `
  WITH existing AS (
    SELECT wake_up_at, seq, kind FROM step_runs WHERE run_id = $1 AND step_id = $5
  ), wake AS (
    SELECT coalesce((SELECT wake_up_at FROM existing), now() - ${ms('$8')} + ${ms('$7')}) AS at
  ), run AS (
    UPDATE workflow_runs
    SET status = 'SLEEPING', wake_up_at = (SELECT at FROM wake), available_at = (SELECT at FROM wake),
        ${UNLOCK}, updated_at = now()
    WHERE ${LEASE_GUARD} AND NOT EXISTS (SELECT 1 FROM existing WHERE seq <> $6 OR kind <> 'SLEEP') AND ${FREE_SEQ}
    RETURNING id, wake_up_at, task_queue
  ), step AS (
    INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, wake_up_at, started_at)
    SELECT id, $5, $6, 'SLEEP', 'RUNNING', 1, wake_up_at, now() - ${ms('$8')} FROM run
    ON CONFLICT (run_id, step_id) DO NOTHING
  )
  SELECT wake_up_at, task_queue FROM run`;

export async function sleep(
  q: Querier,
  lease: Lease,
  stepId: string,
  seq: number,
  durationMs: number,
  waitedMs = 0,
): Promise<{ wakeUpAt: Date; queue: string }> {
  const waited = Math.min(Math.max(0, waitedMs), durationMs);
  const rows = await q.rows(SLEEP, [...leaseParams(lease), stepId, seq, durationMs, waited]);
  if (rows.length === 1) return { wakeUpAt: rows[0]!.wake_up_at, queue: rows[0]!.task_queue };
  if (await holdsLease(q, lease)) await checkStepPosition(q, lease.runId, stepId, seq, 'SLEEP');
  throw await leaseMiss(q, lease);
}
