import type { ErrorInfo } from '@baton/contracts';
import type { Querier } from '../sql';
import { UNLOCK, ms } from './fragments';
import { LEASE_GUARD, leaseParams } from './lease';
import type { Lease } from './lease';

/** The handler's error, as $5..$8 after the lease. */
export const ERROR_COLUMNS = `error_message = $5, error_type = $6, error_stack = $7, error_non_retryable = $8`;

export const errorParams = (error: ErrorInfo): unknown[] => [
  error.message,
  error.type ?? null,
  error.stack ?? null,
  error.nonRetryable ?? false,
];

/** RUNNING → PENDING after the policy's backoff ($9 ms), attempt + 1: the retry policy spends an attempt. */
export const RETRY_RUN = `
  UPDATE workflow_runs
  SET status = 'PENDING', attempt = attempt + 1, available_at = now() + ${ms('$9')}, ${UNLOCK},
      ${ERROR_COLUMNS}, updated_at = now()
  WHERE ${LEASE_GUARD} RETURNING available_at, attempt`;

/** Called by failRun once the policy allows another attempt (the run row is locked). */
export async function retryRun(
  q: Querier,
  lease: Lease,
  error: ErrorInfo,
  delayMs: number,
): Promise<{ retryAt: Date; attempt: number }> {
  const [row] = await q.rows(RETRY_RUN, [...leaseParams(lease), ...errorParams(error), delayMs]);
  return { retryAt: row!.available_at, attempt: row!.attempt };
}
