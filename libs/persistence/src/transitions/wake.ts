import type { Querier } from '../sql';
import { ms } from './fragments';
import { movedRun } from './moved';
import type { MovedRun } from './moved';

/**
 * SLEEPING runs whose wake time has come → PENDING (claimable now). A
 * sleeper's wake_up_at equals its available_at; reading wake_up_at lets the
 * partial index workflow_runs_sleeping serve the scan. Matching claims a due
 * sleeper directly when a worker polls for it; this makes one nobody claimed
 * PENDING and rings its queue, $2 ms (the grace, TIMERS) after its wake time,
 * so as not to take the rows that claim is taking. `late_s` is how late the
 * pass came for that.
 */
export const WAKE_SLEEPERS = `
  UPDATE workflow_runs r SET status = 'PENDING', updated_at = now()
  FROM (SELECT id FROM workflow_runs WHERE status = 'SLEEPING' AND wake_up_at <= now() - ${ms('$2')}
        ORDER BY wake_up_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
  WHERE r.id = due.id
  RETURNING r.id, r.namespace, r.task_queue, r.status,
            extract(epoch FROM now() - r.wake_up_at - ${ms('$2')})::float8 AS late_s`;

export async function wakeSleepers(q: Querier, batchSize: number, graceMs: number): Promise<MovedRun[]> {
  return (await q.rows(WAKE_SLEEPERS, [batchSize, graceMs])).map(movedRun);
}
