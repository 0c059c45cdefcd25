import type { Payload } from '@baton/contracts';
import type { Querier } from '../sql';
import { UNLOCK } from './fragments';
import { LEASE_GUARD, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';

/** RUNNING → COMPLETED with the output, one statement. */
export const COMPLETE_RUN = `
  WITH run AS (
    UPDATE workflow_runs
    SET status = 'COMPLETED', finished_at = now(), updated_at = now(), ${UNLOCK}
    WHERE ${LEASE_GUARD}
    RETURNING id, namespace
  )
  UPDATE workflow_payloads p SET output = $5::bytea, output_encoding = $6
  FROM run WHERE p.run_id = run.id
  RETURNING run.id`;

export async function completeRun(q: Querier, lease: Lease, output: Payload | null): Promise<void> {
  const rows = await q.rows(COMPLETE_RUN, [...leaseParams(lease), output?.data ?? null, output?.encoding ?? null]);
  if (rows.length === 0) throw await leaseMiss(q, lease);
}
