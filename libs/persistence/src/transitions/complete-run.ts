import type { Payload } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { toRunView } from '../rows';
import { finishedColumns, finishedRowColumns, finishedRun } from './finished';
import type { FinishedRun } from './finished';
import { UNLOCK } from './fragments';
import { ITEM_LEASE_GUARD, LEASE_GUARD, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';
import { RECORD_ITEM_STEP_COMPLETED, RECORD_STEP_COMPLETED, completeStep, stepRecordParams } from './steps';
import type { CompletedStep } from './steps';

export type { CompletedStep } from './steps';

/**
 * RUNNING → COMPLETED with the output, one statement. It returns the whole
 * run as it completed, payloads included (FinishedRun.run): the waiters for
 * its result are answered with it, not with a read after the commit.
 */
export const COMPLETE_RUN = `
  WITH run AS (
    UPDATE workflow_runs
    SET status = 'COMPLETED', finished_at = now(), updated_at = now(), ${UNLOCK}
    WHERE ${LEASE_GUARD}
    RETURNING ${finishedRowColumns('workflow_runs')}
  )
  UPDATE workflow_payloads p SET output = $5::bytea, output_encoding = $6
  FROM run WHERE p.run_id = run.id
  RETURNING run.*, p.input, p.input_encoding, p.output, p.output_encoding`;

/**
 * The run's last step → COMPLETED, then the run → COMPLETED, in one statement
 * (one commit): the run completes only if the step was recorded here. Step
 * parameters as in COMPLETE_STEP ($5..$9), the run's output $10 ($11 encoding).
 * Returns as COMPLETE_RUN does.
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
    RETURNING ${finishedRowColumns('workflow_runs')}
  )
  UPDATE workflow_payloads p SET output = $10::bytea, output_encoding = $11
  FROM run WHERE p.run_id = run.id
  RETURNING run.*, p.input, p.input_encoding, p.output, p.output_encoding`;

/** The completed run, whole (see FinishedRun); throws why when the lease or the step's position does not hold. */
export async function completeRun(
  q: Querier,
  lease: Lease,
  output: Payload | null,
  lastStep: CompletedStep | null = null,
): Promise<FinishedRun> {
  if (lastStep) {
    const rows = await q.rows(COMPLETE_RUN_WITH_STEP, [
      ...leaseParams(lease),
      ...stepRecordParams(lastStep),
      output?.data ?? null,
      output?.encoding ?? null,
    ]);
    if (rows.length === 1) return completedRun(rows[0]!);
    // Not recorded here: completeStep says why (lease, position, a final failure) or finds it
    // already completed (a repeat), in which case the run completes on its own below.
    await completeStep(q, lease, lastStep);
  }
  const rows = await q.rows(COMPLETE_RUN, [...leaseParams(lease), output?.data ?? null, output?.encoding ?? null]);
  if (rows.length === 0) throw await leaseMiss(q, lease);
  return completedRun(rows[0]!);
}

const completedRun = (row: Row): FinishedRun => ({ ...finishedRun(row), run: toRunView(row) });

/** One CompleteWorkflow in a group commit. */
export interface RunCompletion {
  lease: Lease;
  output: Payload | null;
  lastStep: CompletedStep | null;
}

/**
 * COMPLETE_RUN and COMPLETE_RUN_WITH_STEP for many runs at once (group
 * commit): one statement, one commit. Per item, the same lease guard and the
 * same step record; a run completes only if its step (when given) was
 * recorded here. Runs are locked in id order, so two batches never wait on
 * each other's runs in opposite orders. An item whose run appears earlier in
 * the batch is left out (it is not completed here).
 */
export const COMPLETE_RUNS = `
  WITH item AS (
    SELECT DISTINCT ON (i.run_id) i.*
    FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::int[], $7::bytea[], $8::text[],
                $9::bigint[], $10::bytea[], $11::text[])
      WITH ORDINALITY AS i(run_id, run_namespace, worker_id, token, step_id, step_seq, step_output, step_encoding,
                           step_duration_ms, output, output_encoding, ord)
    ORDER BY i.run_id, i.ord
  ), held AS (
    SELECT workflow_runs.id, item.* FROM workflow_runs
    JOIN item ON ${ITEM_LEASE_GUARD}
    ORDER BY workflow_runs.id
    FOR UPDATE OF workflow_runs
  ), lease AS (
    SELECT * FROM held WHERE held.step_id IS NOT NULL
  ), step AS (
    ${RECORD_ITEM_STEP_COMPLETED}
    RETURNING step_runs.run_id
  ), run AS (
    UPDATE workflow_runs
    SET status = 'COMPLETED', finished_at = now(), updated_at = now(), ${UNLOCK}
    FROM held
    WHERE workflow_runs.id = held.id AND (held.step_id IS NULL OR held.id IN (SELECT s.run_id FROM step s))
    RETURNING held.ord, held.output, held.output_encoding, ${finishedColumns('workflow_runs')}
  )
  UPDATE workflow_payloads p SET output = run.output, output_encoding = run.output_encoding
  FROM run WHERE p.run_id = run.id
  RETURNING run.ord, run.id, run.namespace, run.task_queue, run.workflow_type, run.status, run.duration_s`;

/**
 * Per item, its run when it was completed here, else null. One that was not
 * goes through completeRun on its own, which says why (or completes it after
 * all: a repeat whose step was already recorded).
 */
export async function completeRuns(q: Querier, items: readonly RunCompletion[]): Promise<Array<FinishedRun | null>> {
  const column = <T>(pick: (item: RunCompletion) => T) => items.map(pick);
  const rows = await q.rows(COMPLETE_RUNS, [
    column((i) => i.lease.runId),
    column((i) => i.lease.namespace),
    column((i) => i.lease.workerId),
    column((i) => i.lease.leaseToken),
    column((i) => i.lastStep?.stepId ?? null),
    column((i) => i.lastStep?.seq ?? null),
    column((i) => i.lastStep?.output?.data ?? null),
    column((i) => i.lastStep?.output?.encoding ?? null),
    column((i) => i.lastStep?.durationMs ?? null),
    column((i) => i.output?.data ?? null),
    column((i) => i.output?.encoding ?? null),
  ]);
  const completed = new Map(rows.map((row) => [Number(row.ord), finishedRun(row)]));
  return items.map((_, index) => completed.get(index + 1) ?? null);
}
