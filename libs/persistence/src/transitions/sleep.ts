import { msSince } from '../sql';
import type { LateParam, Querier } from '../sql';
import { UNLOCK, ms } from './fragments';
import { FREE_SEQ, LEASE_GUARD, checkStepPosition, freeSeq, holdsLease, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';
import { RECORD_STEP_COMPLETED, stepRecordParams } from './steps';
import type { CompletedStep } from './steps';

/**
 * The last CTEs of both sleep statements: the runs `where` selects →
 * SLEEPING until the `wake` CTE's time, and their SLEEP step rows, begun
 * `waited` ms before now.
 */
const sleepUntilWake = (s: { where: string; stepId: string; seq: string; waited: string }) => `
  run AS (
    UPDATE workflow_runs
    SET status = 'SLEEPING', wake_up_at = (SELECT at FROM wake), available_at = (SELECT at FROM wake),
        ${UNLOCK}, updated_at = now()
    WHERE ${s.where}
    RETURNING id, wake_up_at, task_queue
  ), sleep_step AS (
    INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, wake_up_at, started_at)
    SELECT id, ${s.stepId}, ${s.seq}, 'SLEEP', 'RUNNING', 1, wake_up_at, now() - ${ms(s.waited)} FROM run
    ON CONFLICT (run_id, step_id) DO NOTHING
  )
  SELECT wake_up_at, task_queue FROM run`;

/**
 * RUNNING → SLEEPING until $7 ms after the sleep began, or until the wake time
 * already recorded for this step (a replayed sleep never restarts its clock).
 * The sleep began $8 ms before now: the time its call waited in the worker
 * and here before this statement (at most $7, so the wake time is never
 * before now; see sleepParams); the step's started_at
 * is that moment, so wake_up_at − started_at is the duration asked for. The
 * run's available_at is its wake time, so matching can claim a due sleeper
 * directly; the SLEEP step row is written in the same statement.
 */
export const SLEEP = `
  WITH existing AS (
    SELECT wake_up_at, seq, kind FROM step_runs WHERE run_id = $1 AND step_id = $5
  ), wake AS (
    SELECT coalesce((SELECT wake_up_at FROM existing), now() - ${ms('$8')} + ${ms('$7')}) AS at
  ), ${sleepUntilWake({
    where: `${LEASE_GUARD} AND NOT EXISTS (SELECT 1 FROM existing WHERE seq <> $6 OR kind <> 'SLEEP') AND ${FREE_SEQ}`,
    stepId: '$5',
    seq: '$6',
    waited: '$8',
  })}`;

/**
 * The duration, and how long ago the run asked for the sleep as the
 * statement runs (`askedAt`, epoch ms, this process's clock: the call's
 * arrival less its wait in the worker), counted up to the duration so a wake
 * time is never before now. Counted as the statement is sent, it includes the
 * call's wait for a connection here.
 */
const sleepParams = (durationMs: number, askedAt: number | undefined): [number, number | LateParam] => [
  durationMs,
  askedAt === undefined ? 0 : msSince(askedAt, durationMs),
];

export async function sleep(
  q: Querier,
  lease: Lease,
  stepId: string,
  seq: number,
  durationMs: number,
  askedAt?: number,
): Promise<{ wakeUpAt: Date; queue: string }> {
  const rows = await q.rows(SLEEP, [...leaseParams(lease), stepId, seq, ...sleepParams(durationMs, askedAt)]);
  if (rows.length === 1) return { wakeUpAt: rows[0]!.wake_up_at, queue: rows[0]!.task_queue };
  if (await holdsLease(q, lease)) await checkStepPosition(q, lease.runId, stepId, seq, 'SLEEP');
  throw await leaseMiss(q, lease);
}

/**
 * The step completed just before a sleep, and the sleep: one statement, one
 * round trip, one commit (a worker's Sleep usually carries its last step).
 * The lease is taken only when the sleep can follow at once (its step not
 * recorded yet, its position free and not the last step's), so the statement
 * records both or changes nothing: a repeat, a lost lease or a position taken
 * returns no row, and the caller goes the two-statement way, which says why.
 * Step parameters as in COMPLETE_STEP ($5..$9); the sleep's step id $10, seq
 * $11, duration $12 and wait $13 as in SLEEP.
 */
export const SLEEP_AFTER_STEP = `
  WITH lease AS (
    SELECT id FROM workflow_runs
    WHERE ${LEASE_GUARD} AND $11::int <> $6::int
      AND NOT EXISTS (SELECT 1 FROM step_runs WHERE run_id = $1 AND step_id = $10)
      AND ${freeSeq('$1', '$10', '$11')}
    FOR UPDATE
  ), step AS (
    ${RECORD_STEP_COMPLETED}
    RETURNING step_runs.run_id
  ), wake AS (
    SELECT now() - ${ms('$13')} + ${ms('$12')} AS at
  ), ${sleepUntilWake({ where: 'id IN (SELECT s.run_id FROM step s)', stepId: '$10', seq: '$11', waited: '$13' })}`;

/** SLEEP_AFTER_STEP: the wake time, or null when it recorded nothing (see there). */
export async function sleepAfterStep(
  q: Querier,
  lease: Lease,
  lastStep: CompletedStep,
  stepId: string,
  seq: number,
  durationMs: number,
  askedAt?: number,
): Promise<{ wakeUpAt: Date; queue: string } | null> {
  const rows = await q.rows(SLEEP_AFTER_STEP, [
    ...leaseParams(lease),
    ...stepRecordParams(lastStep),
    stepId,
    seq,
    ...sleepParams(durationMs, askedAt),
  ]);
  return rows.length === 1 ? { wakeUpAt: rows[0]!.wake_up_at, queue: rows[0]!.task_queue } : null;
}
