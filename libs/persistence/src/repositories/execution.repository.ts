import { BatonError, ErrorReason, RunStatus, decideRetry, resolveRetryPolicy } from '@baton/contracts';
import type { ErrorInfo, Payload, RetryPolicy, StepView } from '@baton/contracts';
import type { Lease } from './claim.repository';
import type { Querier, Row, Sql } from '../sql';
import { STEP_COLUMNS, toStepView } from '../rows';

/*
 * Every worker mutation (invariant 1): guarded by the lease, so it applies only
 * while (run, worker, lease_epoch) is the current owner and the run is RUNNING.
 * "No row back" means the lease was lost; `leaseMiss` then says why.
 */
const GUARD = `id = $1 AND namespace = $2 AND locked_by = $3 AND lease_epoch = $4 AND status = 'RUNNING'`;
const leaseParams = (l: Lease) => [l.runId, l.namespace, l.workerId, l.leaseEpoch];

// A step is recorded only where the history has room for it: never at a position
// another step holds, and a recorded step only at its own position and kind.
// Anything else writes nothing, and `positionMismatch` names the conflict.
const FREE_SEQ = `NOT EXISTS (SELECT 1 FROM step_runs o WHERE o.run_id = $1 AND o.seq = $6 AND o.step_id <> $5)`;

const BEGIN_STEP = `
  WITH lease AS (SELECT id FROM workflow_runs WHERE ${GUARD} FOR SHARE)
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

// Completing a step that never had BeginStep (the SDK skips it for steps not in
// the history) inserts it; after a failed attempt it counts the new attempt.
const COMPLETE_STEP = `
  WITH lease AS (SELECT id FROM workflow_runs WHERE ${GUARD} FOR SHARE)
  INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, output, output_encoding, finished_at)
  SELECT id, $5, $6, 'FUNCTION', 'COMPLETED', 1, $7::bytea, $8, now() FROM lease WHERE ${FREE_SEQ}
  ON CONFLICT (run_id, step_id) DO UPDATE
  SET status = 'COMPLETED', output = excluded.output, output_encoding = excluded.output_encoding,
      attempt = CASE WHEN step_runs.status = 'FAILED' THEN step_runs.attempt + 1 ELSE step_runs.attempt END,
      retry_at = NULL, finished_at = now(), updated_at = now()
  WHERE step_runs.status <> 'COMPLETED' AND NOT step_runs.final AND step_runs.seq = excluded.seq
    AND step_runs.kind = 'FUNCTION'
  RETURNING step_runs.attempt`;

const SLEEP = `
  WITH existing AS (
    SELECT wake_up_at, seq, kind FROM step_runs WHERE run_id = $1 AND step_id = $5
  ), wake AS (
    SELECT coalesce((SELECT wake_up_at FROM existing), now() + $7::bigint * interval '1 millisecond') AS at
  ), run AS (
    UPDATE workflow_runs
    SET status = 'SLEEPING', wake_up_at = (SELECT at FROM wake), available_at = (SELECT at FROM wake),
        locked_by = NULL, locked_until = NULL, updated_at = now()
    WHERE ${GUARD} AND NOT EXISTS (SELECT 1 FROM existing WHERE seq <> $6 OR kind <> 'SLEEP') AND ${FREE_SEQ}
    RETURNING id, wake_up_at
  ), step AS (
    INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, wake_up_at)
    SELECT id, $5, $6, 'SLEEP', 'RUNNING', 1, wake_up_at FROM run
    ON CONFLICT (run_id, step_id) DO NOTHING
  )
  SELECT wake_up_at FROM run`;

const COMPLETE_RUN = `
  WITH run AS (
    UPDATE workflow_runs
    SET status = 'COMPLETED', finished_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL
    WHERE ${GUARD}
    RETURNING id, namespace
  )
  UPDATE workflow_payloads p SET output = $5::bytea, output_encoding = $6
  FROM run WHERE p.run_id = run.id
  RETURNING run.id`;

const LOCK_RUN = `SELECT attempt, retry_policy FROM workflow_runs WHERE ${GUARD} FOR NO KEY UPDATE`;

export type StepBegin = { execute: true; attempt: number } | { execute: false; step: StepView };

export type FailureOutcome =
  { retry: true; retryAt: Date; attempt: number } | { retry: false; attempt: number; reason: string };

export interface StepFailure extends ErrorInfo {
  /** The step's own policy; unset fields fall back to the run's policy, then the default. */
  retryPolicy?: RetryPolicy | null;
}

export class ExecutionRepository {
  constructor(private readonly sql: Sql) {}

  /** Records a step as RUNNING, or reports its stored result if it already completed (replay). */
  async beginStep(lease: Lease, stepId: string, seq: number): Promise<StepBegin> {
    const rows = await this.sql.rows(BEGIN_STEP, [...leaseParams(lease), stepId, seq]);
    if (rows.length === 0) {
      if (await this.holds(lease)) await this.checkPosition(this.sql, lease.runId, stepId, seq, 'FUNCTION');
      throw await this.leaseMiss(lease);
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

  async completeStep(lease: Lease, stepId: string, seq: number, output: Payload | null): Promise<{ attempt: number }> {
    const rows = await this.sql.rows(COMPLETE_STEP, [
      ...leaseParams(lease),
      stepId,
      seq,
      output?.data ?? null,
      output?.encoding ?? null,
    ]);
    if (rows.length === 1) return { attempt: rows[0]!.attempt };
    // The lease first: nothing about a run's steps is told to a worker that does not hold it.
    if (!(await this.holds(lease))) throw await this.leaseMiss(lease);
    await this.checkPosition(this.sql, lease.runId, stepId, seq, 'FUNCTION');
    const existing = await this.stepRow(lease.runId, stepId);
    if (!existing) throw await this.leaseMiss(lease);
    if (existing.status === 'COMPLETED') return { attempt: existing.attempt }; // repeated complete: idempotent
    if (existing.final) throw BatonError.precondition(`step "${stepId}" already failed permanently`);
    throw await this.leaseMiss(lease);
  }

  /**
   * Records a failed step attempt. Retryable with attempts left: the run is
   * parked (PENDING, available_at = retry_at) and replay re-executes the step
   * then. Otherwise the step fails for good and the error surfaces in the workflow.
   */
  async failStep(lease: Lease, stepId: string, seq: number, failure: StepFailure): Promise<FailureOutcome> {
    return this.sql.transaction(async (q) => {
      const run = await this.lockRun(q, lease);
      await this.checkPosition(q, lease.runId, stepId, seq, 'FUNCTION');
      const [existing] = await q.rows(`SELECT ${STEP_COLUMNS} FROM step_runs s WHERE run_id = $1 AND step_id = $2`, [
        lease.runId,
        stepId,
      ]);
      if (existing) {
        const step = toStepView(existing);
        if (step.status === 'COMPLETED' || step.final) {
          throw BatonError.precondition(`step "${stepId}" is already ${step.final ? 'failed' : 'completed'}`);
        }
      }
      const attempt = !existing ? 1 : existing.status === 'FAILED' ? existing.attempt + 1 : existing.attempt;
      const runPolicy = resolveRetryPolicy(run.retry_policy);
      const decision = decideRetry(resolveRetryPolicy(failure.retryPolicy, runPolicy), attempt, {
        nonRetryable: failure.nonRetryable,
        errorType: failure.type,
      });
      const [step] = await q.rows(
        `INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, error_message, error_type, error_stack,
                                final, retry_at, finished_at)
         VALUES ($1, $2, $3, 'FUNCTION', 'FAILED', $4, $5, $6, $7, $8,
                 CASE WHEN $9::bigint IS NULL THEN NULL ELSE now() + $9::bigint * interval '1 millisecond' END, now())
         ON CONFLICT (run_id, step_id) DO UPDATE
         SET status = 'FAILED', attempt = excluded.attempt, error_message = excluded.error_message,
             error_type = excluded.error_type, error_stack = excluded.error_stack, final = excluded.final,
             retry_at = excluded.retry_at, finished_at = now(), updated_at = now()
         RETURNING retry_at`,
        [
          lease.runId,
          stepId,
          seq,
          attempt,
          failure.message,
          failure.type ?? null,
          failure.stack ?? null,
          !decision.retry,
          decision.retry ? decision.delayMs : null,
        ],
      );
      if (!decision.retry) return { retry: false, attempt, reason: decision.reason };
      await q.rows(
        `UPDATE workflow_runs SET status = 'PENDING', available_at = $5, locked_by = NULL, locked_until = NULL,
                updated_at = now() WHERE ${GUARD}`,
        [...leaseParams(lease), step!.retry_at],
      );
      return { retry: true, retryAt: step!.retry_at, attempt };
    });
  }

  /** RUNNING → SLEEPING until now + duration (or the wake time already recorded for this step). */
  async sleep(lease: Lease, stepId: string, seq: number, durationMs: number): Promise<{ wakeUpAt: Date }> {
    const rows = await this.sql.rows(SLEEP, [...leaseParams(lease), stepId, seq, durationMs]);
    if (rows.length === 1) return { wakeUpAt: rows[0]!.wake_up_at };
    if (await this.holds(lease)) await this.checkPosition(this.sql, lease.runId, stepId, seq, 'SLEEP');
    throw await this.leaseMiss(lease);
  }

  /** RUNNING → COMPLETED with the output, one statement. */
  async completeRun(lease: Lease, output: Payload | null): Promise<void> {
    const rows = await this.sql.rows(COMPLETE_RUN, [
      ...leaseParams(lease),
      output?.data ?? null,
      output?.encoding ?? null,
    ]);
    if (rows.length === 0) throw await this.leaseMiss(lease);
  }

  /** RUNNING → PENDING (retry by the run's policy, attempt + 1) or FAILED. */
  async failRun(lease: Lease, error: ErrorInfo): Promise<FailureOutcome & { status: RunStatus }> {
    return this.sql.transaction(async (q) => {
      const run = await this.lockRun(q, lease);
      const decision = decideRetry(resolveRetryPolicy(run.retry_policy), run.attempt, {
        nonRetryable: error.nonRetryable,
        errorType: error.type,
      });
      const errorParams = [error.message, error.type ?? null, error.stack ?? null, error.nonRetryable ?? false];
      if (decision.retry) {
        const [row] = await q.rows(
          `UPDATE workflow_runs
           SET status = 'PENDING', attempt = attempt + 1, available_at = now() + $9::bigint * interval '1 millisecond',
               locked_by = NULL, locked_until = NULL, error_message = $5, error_type = $6, error_stack = $7,
               error_non_retryable = $8, updated_at = now()
           WHERE ${GUARD} RETURNING available_at, attempt`,
          [...leaseParams(lease), ...errorParams, decision.delayMs],
        );
        return { status: RunStatus.PENDING, retry: true, retryAt: row!.available_at, attempt: row!.attempt };
      }
      await q.rows(
        `UPDATE workflow_runs
         SET status = 'FAILED', finished_at = now(), locked_by = NULL, locked_until = NULL, error_message = $5,
             error_type = $6, error_stack = $7, error_non_retryable = $8, updated_at = now()
         WHERE ${GUARD}`,
        [...leaseParams(lease), ...errorParams],
      );
      return { status: RunStatus.FAILED, retry: false, attempt: run.attempt, reason: decision.reason };
    });
  }

  private async lockRun(q: Querier, lease: Lease): Promise<Row> {
    const [run] = await q.rows(LOCK_RUN, leaseParams(lease));
    if (!run) throw await this.leaseMiss(lease);
    return run;
  }

  /** Whether `lease` is the run's current lease (checked before anything about the run is told). */
  private async holds(lease: Lease): Promise<boolean> {
    return (await this.sql.rows(`SELECT 1 FROM workflow_runs WHERE ${GUARD}`, leaseParams(lease))).length === 1;
  }

  private async stepRow(runId: string, stepId: string): Promise<StepView | null> {
    const rows = await this.sql.rows(`SELECT ${STEP_COLUMNS} FROM step_runs s WHERE run_id = $1 AND step_id = $2`, [
      runId,
      stepId,
    ]);
    return rows.length ? toStepView(rows[0]!) : null;
  }

  /**
   * Invariant 6: a step id recorded at another position or of another kind, or
   * another step recorded at this position, means the code changed.
   */
  private async checkPosition(q: Querier, runId: string, stepId: string, seq: number, kind: string): Promise<void> {
    const recorded = await q.rows(
      `SELECT step_id, seq, kind FROM step_runs WHERE run_id = $1 AND (step_id = $2 OR seq = $3)`,
      [runId, stepId, seq],
    );
    for (const step of recorded) {
      if (step.step_id === stepId && (step.seq !== seq || step.kind !== kind)) {
        throw BatonError.precondition(
          `non-deterministic replay: step "${stepId}" was recorded as ${step.kind} #${step.seq}, now requested as ${kind} #${seq}`,
          ErrorReason.NON_DETERMINISTIC,
        );
      }
      if (step.step_id !== stepId) {
        throw BatonError.precondition(
          `non-deterministic replay: position #${seq} holds ${step.kind} "${step.step_id}", now requested as ${kind} "${stepId}"`,
          ErrorReason.NON_DETERMINISTIC,
        );
      }
    }
  }

  /** Why a guarded mutation matched no row: the run is gone, finished, or owned by another lease. */
  async leaseMiss(lease: Lease): Promise<BatonError> {
    const [run] = await this.sql.rows(
      `SELECT status, locked_by, lease_epoch FROM workflow_runs WHERE id = $1 AND namespace = $2`,
      [lease.runId, lease.namespace],
    );
    if (!run) return BatonError.notFound(`workflow run ${lease.runId}`);
    if (run.status === RunStatus.CANCELLED) {
      return BatonError.precondition(`workflow run ${lease.runId} was cancelled`, ErrorReason.RUN_CANCELLED);
    }
    if (run.status === RunStatus.COMPLETED || run.status === RunStatus.FAILED) {
      return BatonError.precondition(`workflow run ${lease.runId} is already ${run.status}`, ErrorReason.RUN_TERMINAL);
    }
    return BatonError.precondition(
      `worker ${lease.workerId} no longer holds workflow run ${lease.runId} (lease epoch ${lease.leaseEpoch}; run is ${run.status})`,
      ErrorReason.LEASE_LOST,
    );
  }
}
