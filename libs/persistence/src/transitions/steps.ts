import { BatonError, ErrorReason } from '@baton/contracts';
import type { Payload, StepView } from '@baton/contracts';
import type { Querier } from '../sql';
import { STEP_COLUMNS, toStepView } from '../rows';
import {
  FREE_SEQ,
  ITEM_LEASE_GUARD,
  LEASE_GUARD,
  checkStepPosition,
  freeSeq,
  holdsLease,
  leaseMiss,
  leaseParams,
} from './lease';
import type { Lease } from './lease';

/*
 * Step transitions under the run's lease (the run row is read FOR SHARE, so a
 * concurrent cancel or recovery waits or wins, never interleaves). A recorded
 * step is touched only at its own position and kind.
 */

/** (none) | FAILED with retry due → RUNNING; COMPLETED stays and is reported (replay). */
export const BEGIN_STEP = `
  WITH lease AS (SELECT id FROM workflow_runs WHERE ${LEASE_GUARD} FOR SHARE)
  INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt)
  SELECT id, $5, $6, 'FUNCTION', 'RUNNING', 1 FROM lease WHERE ${FREE_SEQ}
  ON CONFLICT (run_id, step_id) DO UPDATE
  SET status = CASE WHEN step_runs.status = 'FAILED' AND NOT step_runs.final AND step_runs.retry_at <= now()
                    THEN 'RUNNING' ELSE step_runs.status END,
      attempt = CASE WHEN step_runs.status = 'FAILED' AND NOT step_runs.final AND step_runs.retry_at <= now()
                     THEN step_runs.attempt + 1 ELSE step_runs.attempt END,
      updated_at = now()
  WHERE step_runs.seq = excluded.seq AND step_runs.kind = 'FUNCTION'
  RETURNING *, (kind = 'SLEEP' AND wake_up_at <= now()) AS slept_out`;

/** A FUNCTION step as the worker reports it completed. */
export interface CompletedStep {
  stepId: string;
  seq: number;
  output: Payload | null;
  /** How long its body ran, by the worker's clock; null or 0: not measured (the start is then the completion). */
  durationMs?: number | null;
}

/** Where a completed step's record comes from: parameters, or the columns of a batch's `lease` rows. */
export interface StepRecordSource {
  runId: string;
  stepId: string;
  seq: string;
  output: string;
  encoding: string;
  /** Milliseconds (bigint), or NULL. */
  durationMs: string;
}

/**
 * When the step's body began: its completion less the duration the worker
 * measured. The worker's clock only measures the span, so no clock skew
 * between worker and database enters a step's times.
 */
const stepStart = (durationMs: string) => `now() - coalesce(${durationMs}, 0) * interval '1 millisecond'`;

/**
 * A step → COMPLETED with its output, for each run the enclosing statement's
 * `lease` CTE yields (its `id` column). Shared by CompleteStep, by
 * CompleteWorkflow carrying the run's last step, and by its group commit.
 */
const recordStepCompleted = (s: StepRecordSource) => `
  INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, output, output_encoding, started_at, finished_at)
  SELECT id, ${s.stepId}, ${s.seq}, 'FUNCTION', 'COMPLETED', 1, ${s.output}, ${s.encoding}, ${stepStart(s.durationMs)}, now()
  FROM lease WHERE ${freeSeq(s.runId, s.stepId, s.seq)}
  ON CONFLICT (run_id, step_id) DO UPDATE
  SET status = 'COMPLETED', output = excluded.output, output_encoding = excluded.output_encoding,
      attempt = CASE WHEN step_runs.status = 'FAILED' THEN step_runs.attempt + 1 ELSE step_runs.attempt END,
      -- Measured (a start before its completion): this attempt's start; else the one BeginStep recorded.
      started_at = CASE WHEN excluded.started_at < excluded.finished_at THEN excluded.started_at
                        ELSE step_runs.started_at END,
      retry_at = NULL, finished_at = now(), updated_at = now()
  WHERE step_runs.status <> 'COMPLETED' AND NOT step_runs.final AND step_runs.seq = excluded.seq
    AND step_runs.kind = 'FUNCTION'`;

/** Step $5 at position $6 → COMPLETED with output $7 ($8 its encoding), its body having run $9 ms. */
export const RECORD_STEP_COMPLETED = recordStepCompleted({
  runId: '$1',
  stepId: '$5',
  seq: '$6',
  output: '$7::bytea',
  encoding: '$8',
  durationMs: '$9::bigint',
});

/**
 * The same for a group commit's rows: the `lease` CTE carries each item's
 * step columns (see ITEM_LEASE_GUARD for the item naming).
 */
export const RECORD_ITEM_STEP_COMPLETED = recordStepCompleted({
  runId: 'lease.id',
  stepId: 'lease.step_id',
  seq: 'lease.step_seq',
  output: 'lease.step_output',
  encoding: 'lease.step_encoding',
  durationMs: 'lease.step_duration_ms',
});

// Completing a step that never had BeginStep (the SDK skips it for steps not in
// the history) inserts it; after a failed attempt it counts the new attempt.
/** (none) | RUNNING | FAILED (retryable) → COMPLETED with its output. */
export const COMPLETE_STEP = `
  WITH lease AS (SELECT id FROM workflow_runs WHERE ${LEASE_GUARD} FOR SHARE)
  ${RECORD_STEP_COMPLETED}
  RETURNING step_runs.attempt`;

export type StepBegin = { execute: true; attempt: number } | { execute: false; step: StepView };

export async function beginStep(q: Querier, lease: Lease, stepId: string, seq: number): Promise<StepBegin> {
  const rows = await q.rows(BEGIN_STEP, [...leaseParams(lease), stepId, seq]);
  if (rows.length === 0) {
    if (await holdsLease(q, lease)) await checkStepPosition(q, lease.runId, stepId, seq, 'FUNCTION');
    throw await leaseMiss(q, lease);
  }
  const step = toStepView(rows[0]!);
  if (step.status === 'RUNNING') return { execute: true, attempt: step.attempt };
  if (step.status === 'FAILED' && !step.final) {
    throw BatonError.precondition(
      `step "${stepId}" may not be retried before ${step.retryAt?.toISOString()} (retry_at)`,
    );
  }
  return { execute: false, step };
}

/** A completed step as RECORD_STEP_COMPLETED's parameters $5..$9. */
export const stepRecordParams = (step: CompletedStep): unknown[] => [
  step.stepId,
  step.seq,
  step.output?.data ?? null,
  step.output?.encoding ?? null,
  step.durationMs ?? null,
];

export async function completeStep(q: Querier, lease: Lease, step: CompletedStep): Promise<{ attempt: number }> {
  const { stepId, seq } = step;
  const rows = await q.rows(COMPLETE_STEP, [...leaseParams(lease), ...stepRecordParams(step)]);
  if (rows.length === 1) return { attempt: rows[0]!.attempt };
  // The lease first: nothing about a run's steps is told to a worker that does not hold it.
  if (!(await holdsLease(q, lease))) throw await leaseMiss(q, lease);
  await checkStepPosition(q, lease.runId, stepId, seq, 'FUNCTION');
  const existing = await stepRow(q, lease.runId, stepId);
  if (!existing) throw await leaseMiss(q, lease);
  if (existing.status === 'COMPLETED') return { attempt: existing.attempt }; // repeated complete: idempotent
  if (existing.final) {
    throw BatonError.precondition(`step "${stepId}" already failed permanently`, ErrorReason.STEP_ALREADY_FAILED);
  }
  throw await leaseMiss(q, lease);
}

/** One CompleteStep in a group commit. */
export interface StepCompletion extends CompletedStep {
  lease: Lease;
}

/**
 * COMPLETE_STEP for many steps at once (group commit): one statement, one
 * commit. Per item, the same lease guard (the run row read FOR SHARE) and the
 * same step record with its guards; returns the attempt of each step recorded
 * here, with its item's position (ord). Runs are locked in id order, as
 * COMPLETE_RUNS and HEARTBEAT lock theirs, so none of them waits on another
 * in the opposite order (a deadlock). An item is left out when an
 * earlier item of the batch names the same run and the same step or position:
 * one statement does not see its own rows, so the FREE_SEQ guard could not
 * tell two steps at one position apart, and one row cannot be updated twice.
 */
export const COMPLETE_STEPS = `
  WITH given AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::int[], $7::bytea[], $8::text[],
                         $9::bigint[])
      WITH ORDINALITY AS i(run_id, run_namespace, worker_id, token, step_id, step_seq, step_output, step_encoding,
                           step_duration_ms, ord)
  ), item AS (
    SELECT * FROM given g
    WHERE NOT EXISTS (
      SELECT 1 FROM given e
      WHERE e.ord < g.ord AND e.run_id = g.run_id AND (e.step_id = g.step_id OR e.step_seq = g.step_seq)
    )
  ), lease AS (
    SELECT workflow_runs.id, item.* FROM workflow_runs
    JOIN item ON ${ITEM_LEASE_GUARD}
    ORDER BY workflow_runs.id, item.step_id
    FOR SHARE OF workflow_runs
  ), step AS (
    ${RECORD_ITEM_STEP_COMPLETED}
    RETURNING step_runs.run_id, step_runs.step_id, step_runs.attempt
  )
  SELECT lease.ord, step.attempt FROM step JOIN lease ON lease.id = step.run_id AND lease.step_id = step.step_id`;

/**
 * Per item, the step's attempt when it was recorded here, else null. One
 * that was not goes through completeStep on its own, which says why (or
 * answers a repeat of a completed step with its attempt).
 */
export async function completeSteps(q: Querier, items: readonly StepCompletion[]): Promise<Array<number | null>> {
  const column = <T>(pick: (item: StepCompletion) => T) => items.map(pick);
  const rows = await q.rows<{ ord: string; attempt: number }>(COMPLETE_STEPS, [
    column((i) => i.lease.runId),
    column((i) => i.lease.namespace),
    column((i) => i.lease.workerId),
    column((i) => i.lease.leaseToken),
    column((i) => i.stepId),
    column((i) => i.seq),
    column((i) => i.output?.data ?? null),
    column((i) => i.output?.encoding ?? null),
    column((i) => i.durationMs ?? null),
  ]);
  const attempts = new Map(rows.map((row) => [Number(row.ord), row.attempt]));
  return items.map((_, index) => attempts.get(index + 1) ?? null);
}

export async function stepRow(q: Querier, runId: string, stepId: string): Promise<StepView | null> {
  const rows = await q.rows(`SELECT ${STEP_COLUMNS} FROM step_runs s WHERE run_id = $1 AND step_id = $2`, [
    runId,
    stepId,
  ]);
  return rows.length ? toStepView(rows[0]!) : null;
}
