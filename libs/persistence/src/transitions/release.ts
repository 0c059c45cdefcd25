import type { Querier } from '../sql';
import { UNLOCK } from './fragments';

/** A claim nobody received (invariant 4): back to claimable now, at no cost to the run. */
export const RELEASE_CLAIM = `
  UPDATE workflow_runs
  SET status = 'PENDING', ${UNLOCK}, available_at = now(), updated_at = now()
  WHERE id = $1 AND locked_by = $2 AND lease_epoch = $3 AND status = 'RUNNING' AND NOT delivered
  RETURNING namespace, task_queue`;

export interface ClaimRef {
  runId: string;
  workerId: string;
  leaseEpoch: number;
}

/** RUNNING (undelivered) → PENDING. Returns the queue to ring if the claim was still ours. */
export async function releaseClaim(q: Querier, claim: ClaimRef): Promise<{ namespace: string; queue: string } | null> {
  const [row] = await q.rows(RELEASE_CLAIM, [claim.runId, claim.workerId, claim.leaseEpoch]);
  return row ? { namespace: row.namespace, queue: row.task_queue } : null;
}
