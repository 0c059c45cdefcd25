import { RunStatus, decideRetry, resolveRetryPolicy } from '@baton/contracts';
import type { ErrorInfo } from '@baton/contracts';
import type { Sql } from '../sql';
import { finishedColumns, finishedRun } from './finished';
import type { FinishedRun } from './finished';
import { UNLOCK } from './fragments';
import { LEASE_GUARD, leaseParams } from './lease';
import type { Lease } from './lease';
import { lockLeasedRun } from './park-for-retry';
import { ERROR_COLUMNS, errorParams, retryRun } from './retry-run';
import type { FailureOutcome } from './park-for-retry';

/** RUNNING → FAILED with the handler's error (policy spent, or not retryable). */
export const FAIL_RUN = `
  UPDATE workflow_runs
  SET status = 'FAILED', finished_at = now(), ${UNLOCK}, ${ERROR_COLUMNS}, updated_at = now()
  WHERE ${LEASE_GUARD}
  RETURNING ${finishedColumns('workflow_runs')}`;

/**
 * A handler failure: retried by the run's policy or FAILED. The policy counts
 * business attempts only (attempt - recoveries): a lost lease or a stale worker
 * never spends it (invariant 8).
 */
export async function failRun(
  sql: Sql,
  lease: Lease,
  error: ErrorInfo,
): Promise<FailureOutcome & { status: RunStatus; finished?: FinishedRun }> {
  return sql.transaction(async (q) => {
    const run = await lockLeasedRun(q, lease);
    const businessAttempt = run.attempt - run.recoveries;
    const decision = decideRetry(resolveRetryPolicy(run.retry_policy), businessAttempt, {
      nonRetryable: error.nonRetryable,
      errorType: error.type,
    });
    if (decision.retry) {
      const retried = await retryRun(q, lease, error, decision.delayMs);
      return { status: RunStatus.PENDING, retry: true, ...retried, queue: run.task_queue };
    }
    const [failed] = await q.rows(FAIL_RUN, [...leaseParams(lease), ...errorParams(error)]);
    return {
      status: RunStatus.FAILED,
      retry: false,
      attempt: run.attempt,
      reason: decision.reason,
      finished: finishedRun(failed!),
    };
  });
}
