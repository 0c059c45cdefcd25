import type { Querier } from '../sql';
import { movedRun } from './moved';
import type { MovedRun } from './moved';

/**
 * SLEEPING runs whose wake time has come → PENDING (claimable now). A
 * sleeper's wake_up_at equals its available_at; reading wake_up_at lets the
 * partial index workflow_runs_sleeping serve the scan. Matching may also claim
 * a due sleeper directly; this only makes it visible as PENDING.
 */
export const WAKE_SLEEPERS = `
  UPDATE workflow_runs r SET status = 'PENDING', updated_at = now()
  FROM (SELECT id FROM workflow_runs WHERE status = 'SLEEPING' AND wake_up_at <= now()
        ORDER BY wake_up_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
  WHERE r.id = due.id
  RETURNING r.id, r.namespace, r.task_queue, r.status, extract(epoch FROM now() - r.wake_up_at)::float8 AS late_s`;

export async function wakeSleepers(q: Querier, batchSize: number): Promise<MovedRun[]> {
  return (await q.rows(WAKE_SLEEPERS, [batchSize])).map(movedRun);
}
