import type { Querier } from '../sql';
import { finishedColumns } from './finished';
import { LIVE_STATUSES, UNLOCK } from './fragments';
import { movedRun } from './moved';
import type { MovedRun } from './moved';

/** Live runs past their deadline → FAILED (DEADLINE_EXCEEDED), whatever state they are in: the user's deadline. */
export const FAIL_PAST_DEADLINE = `
  UPDATE workflow_runs r
  SET status = 'FAILED', finished_at = now(), updated_at = now(), ${UNLOCK}, wake_up_at = NULL,
      error_message = 'workflow run exceeded its deadline (' || r.deadline_at || ')',
      error_type = 'DEADLINE_EXCEEDED', error_stack = NULL, error_non_retryable = true
  FROM (SELECT id FROM workflow_runs
        WHERE deadline_at < now() AND status IN (${LIVE_STATUSES})
        ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
  WHERE r.id = due.id
  RETURNING ${finishedColumns('r')}, extract(epoch FROM now() - r.deadline_at)::float8 AS late_s`;

export async function failPastDeadline(q: Querier, batchSize: number): Promise<MovedRun[]> {
  return (await q.rows(FAIL_PAST_DEADLINE, [batchSize])).map(movedRun);
}
