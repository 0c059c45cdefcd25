import type { Payload } from '@baton/contracts';
import type { Querier } from '../sql';
import { UNLOCK } from './fragments';
import { LEASE_GUARD, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';
import { RECORD_STEP_COMPLETED, completeStep } from './steps';

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

/**
 * The run's last step → COMPLETED, then the run → COMPLETED, in one statement
 * (one commit): the run completes only if the step was recorded here. Step
 * parameters as in COMPLETE_STEP ($5..$8), the run's output $9 ($10 encoding).
 */
export const COMPLETE_RUN_WITH_STEP = `
  WITH lease AS (SELECT id FROM workflow_runs WHERE ${LEASE_GUARD} FOR UPDATE),
  step AS (
    ${RECORD_STEP_COMPLETED}
    RETURNING step_runs.run_id
  ), run AS (
    UPDATE workflow_runs
    SET status = 'COMPLETED', finished_at = now(), updated_at = now(), ${UNLOCK}
    WHERE id IN (SELECT s.run_id FROM step s)
    RETURNING id
  )
  UPDATE workflow_payloads p SET output = $9::bytea, output_encoding = $10
  FROM run WHERE p.run_id = run.id
  RETURNING run.id`;

/** A step completed together with its run (CompleteWorkflow carrying the last step). */
export interface CompletedStep {
  stepId: string;
  seq: number;
  output: Payload | null;
}

export async function completeRun(
  q: Querier,
  lease: Lease,
  output: Payload | null,
  lastStep: CompletedStep | null = null,
): Promise<void> {
  if (lastStep) {
    const rows = await q.rows(COMPLETE_RUN_WITH_STEP, [
      ...leaseParams(lease),
      lastStep.stepId,
      lastStep.seq,
      lastStep.output?.data ?? null,
      lastStep.output?.encoding ?? null,
      output?.data ?? null,
      output?.encoding ?? null,
    ]);
    if (rows.length === 1) return;
    // Not recorded here: completeStep says why (lease, position, a final failure) or finds it
    // already completed (a repeat), in which case the run completes on its own below.
    await completeStep(q, lease, lastStep.stepId, lastStep.seq, lastStep.output);
  }
  const rows = await q.rows(COMPLETE_RUN, [...leaseParams(lease), output?.data ?? null, output?.encoding ?? null]);
  if (rows.length === 0) throw await leaseMiss(q, lease);
}
