import { BatonError, ErrorReason, decideRetry, resolveRetryPolicy } from '@baton/contracts';
import type { ErrorInfo, RetryPolicy } from '@baton/contracts';
import type { Querier, Row, Sql } from '../sql';
import { UNLOCK, ms } from './fragments';
import { LEASE_GUARD, checkStepPosition, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';
import { stepRow } from './steps';

export interface StepFailure extends ErrorInfo {
  /** The step's own policy; unset fields fall back to the run's policy, then the default. */
  retryPolicy?: RetryPolicy | null;
}

/** `queue`: where the parked run will be claimable again at `retryAt` (a precise timer is armed for it). */
export type FailureOutcome =
  { retry: true; retryAt: Date; attempt: number; queue: string } | { retry: false; attempt: number; reason: string };

/** The run's row, locked for the decision; nothing else may move it meanwhile. */
export const LOCK_LEASED_RUN = `SELECT attempt, recoveries, retry_policy, task_queue FROM workflow_runs WHERE ${LEASE_GUARD}
  FOR NO KEY UPDATE`;

/** Step attempt → FAILED: with retry_at (retryable, attempts left) or final. $1 run, $2 step, ... */
export const RECORD_STEP_FAILURE = `
  INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, error_message, error_type, error_stack,
                         final, retry_at, finished_at)
  VALUES ($1, $2, $3, 'FUNCTION', 'FAILED', $4, $5, $6, $7, $8,
          CASE WHEN $9::bigint IS NULL THEN NULL ELSE now() + ${ms('$9')} END, now())
  ON CONFLICT (run_id, step_id) DO UPDATE
  SET status = 'FAILED', attempt = excluded.attempt, error_message = excluded.error_message,
      error_type = excluded.error_type, error_stack = excluded.error_stack, final = excluded.final,
      retry_at = excluded.retry_at, finished_at = now(), updated_at = now()
  RETURNING retry_at`;

/** RUNNING → PENDING until the step's retry_at; replay re-executes the step then. $5 = retry_at. */
export const PARK_FOR_RETRY = `
  UPDATE workflow_runs SET status = 'PENDING', available_at = $5, ${UNLOCK}, updated_at = now()
  WHERE ${LEASE_GUARD}`;

export async function lockLeasedRun(q: Querier, lease: Lease): Promise<Row> {
  const [run] = await q.rows(LOCK_LEASED_RUN, leaseParams(lease));
  if (!run) throw await leaseMiss(q, lease);
  return run;
}

/**
 * Records a failed step attempt. Retryable with attempts left: the run is
 * parked (PENDING, available_at = retry_at). Otherwise the step fails for good
 * and the error surfaces in the workflow.
 */
export async function parkForRetry(
  sql: Sql,
  lease: Lease,
  stepId: string,
  seq: number,
  failure: StepFailure,
): Promise<FailureOutcome> {
  return sql.transaction(async (q) => {
    const run = await lockLeasedRun(q, lease);
    await checkStepPosition(q, lease.runId, stepId, seq, 'FUNCTION');
    const existing = await stepRow(q, lease.runId, stepId);
    if (existing?.final) {
      throw BatonError.precondition(`step "${stepId}" is already failed`, ErrorReason.STEP_ALREADY_FAILED);
    }
    if (existing?.status === 'COMPLETED') throw BatonError.precondition(`step "${stepId}" is already completed`);
    const attempt = !existing ? 1 : existing.status === 'FAILED' ? existing.attempt + 1 : existing.attempt;
    const runPolicy = resolveRetryPolicy(run.retry_policy);
    const decision = decideRetry(resolveRetryPolicy(failure.retryPolicy, runPolicy), attempt, {
      nonRetryable: failure.nonRetryable,
      errorType: failure.type,
    });
    const [step] = await q.rows(RECORD_STEP_FAILURE, [
      lease.runId,
      stepId,
      seq,
      attempt,
      failure.message,
      failure.type ?? null,
      failure.stack ?? null,
      !decision.retry,
      decision.retry ? decision.delayMs : null,
    ]);
    if (!decision.retry) return { retry: false, attempt, reason: decision.reason };
    await q.rows(PARK_FOR_RETRY, [...leaseParams(lease), step!.retry_at]);
    return { retry: true, retryAt: step!.retry_at, attempt, queue: run.task_queue };
  });
}
