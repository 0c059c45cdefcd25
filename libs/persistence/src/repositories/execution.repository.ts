import { GROUP_COMMIT } from '@baton/contracts';
import type { ErrorInfo, Payload, RunStatus } from '@baton/contracts';
import type { Sql } from '../sql';
import { GroupCommit } from '../group-commit';
import {
  beginStep,
  completeRun,
  completeRuns,
  completeStep,
  completeSteps,
  failRun,
  leaseMiss,
  parkForRetry,
  sleep,
  sleepAfterStep,
} from '../transitions';
import type { BatonError } from '@baton/contracts';
import type {
  CompletedStep,
  FailureOutcome,
  FinishedRun,
  Lease,
  RunCompletion,
  StepBegin,
  StepCompletion,
  StepFailure,
} from '../transitions';

/**
 * Every worker mutation (invariant 1), guarded by the lease: it applies only
 * while (run, worker, lease_token) is the current owner and the run is
 * RUNNING. The statements live in ../transitions.
 */
export class ExecutionRepository {
  /**
   * Concurrent completions share one statement and one commit. A completion
   * alone runs completeRun (today's statements) at once; the run when completed.
   */
  private readonly completions: GroupCommit<RunCompletion, FinishedRun | null>;
  /**
   * Concurrent step completions (across runs) share one statement and one
   * commit. One alone runs completeStep (today's statement) at once; the
   * step's attempt when recorded, null when the shared statement did not.
   */
  private readonly stepCompletions: GroupCommit<StepCompletion, number | null>;

  constructor(private readonly sql: Sql) {
    this.stepCompletions = new GroupCommit({
      run: async (items) => {
        if (items.length > 1) return completeSteps(sql, items);
        const { lease, ...step } = items[0]!;
        return [(await completeStep(sql, lease, step)).attempt];
      },
      maxItems: GROUP_COMMIT.maxItems,
      maxBytes: GROUP_COMMIT.maxBytes,
      bytes: (item) => item.output?.data.length ?? 0,
    });
    this.completions = new GroupCommit({
      run: async (items) => {
        if (items.length > 1) return completeRuns(sql, items);
        const { lease, output, lastStep } = items[0]!;
        return [await completeRun(sql, lease, output, lastStep)];
      },
      maxItems: GROUP_COMMIT.maxItems,
      maxBytes: GROUP_COMMIT.maxBytes,
      bytes: (item) => (item.output?.data.length ?? 0) + (item.lastStep?.output?.data.length ?? 0),
    });
  }

  /** Records a step as RUNNING, or reports its stored result if it already completed (replay). */
  beginStep(lease: Lease, stepId: string, seq: number): Promise<StepBegin> {
    return beginStep(this.sql, lease, stepId, seq);
  }

  /**
   * (none) | RUNNING | FAILED (retryable) → COMPLETED with its output: one
   * statement, shared with concurrent step completions. One the shared
   * statement did not record goes through completeStep on its own, which
   * answers as it always has (lease lost, non-deterministic, failed for good,
   * or the attempt of a step already completed).
   */
  async completeStep(lease: Lease, step: CompletedStep): Promise<{ attempt: number }> {
    const attempt = await this.stepCompletions.submit({ lease, ...step });
    if (attempt !== null) return { attempt };
    return completeStep(this.sql, lease, step);
  }

  /** A failed step attempt: the run is parked until the step's retry_at, or the step fails for good. */
  failStep(lease: Lease, stepId: string, seq: number, failure: StepFailure): Promise<FailureOutcome> {
    return parkForRetry(this.sql, lease, stepId, seq, failure);
  }

  /**
   * RUNNING → SLEEPING until `durationMs` after the sleep began (`waitedMs`
   * before now, counted up to the duration), or the wake time already
   * recorded for this step, with the step completed just before it in the
   * same commit.
   */
  async sleep(
    lease: Lease,
    stepId: string,
    seq: number,
    durationMs: number,
    lastStep: CompletedStep | null = null,
    askedAt?: number,
  ): Promise<{ wakeUpAt: Date; queue: string }> {
    if (!lastStep) return sleep(this.sql, lease, stepId, seq, durationMs, askedAt);
    // The step completed just before the sleep and the sleep: one statement when it can.
    const slept = await sleepAfterStep(this.sql, lease, lastStep, stepId, seq, durationMs, askedAt);
    if (slept) return slept;
    // Not both recorded (a repeat, a lost lease, a position taken): one transaction that says why.
    return this.sql.transaction(async (q) => {
      await completeStep(q, lease, lastStep);
      return sleep(q, lease, stepId, seq, durationMs, askedAt);
    });
  }

  /**
   * RUNNING → COMPLETED with the output, and the run's last step with it: one
   * statement, shared with concurrent completions. One the shared statement
   * did not complete goes through completeRun on its own, which answers as
   * it always has (lease lost, non-deterministic step, already finished...).
   */
  async completeRun(lease: Lease, output: Payload | null, lastStep: CompletedStep | null = null): Promise<FinishedRun> {
    return (
      (await this.completions.submit({ lease, output, lastStep })) ?? completeRun(this.sql, lease, output, lastStep)
    );
  }

  /** RUNNING → PENDING (retry by the run's policy, attempt + 1) or FAILED (with the run as it finished). */
  failRun(lease: Lease, error: ErrorInfo): Promise<FailureOutcome & { status: RunStatus; finished?: FinishedRun }> {
    return failRun(this.sql, lease, error);
  }

  /** Why a guarded mutation matched no row: the run is gone, finished, or owned by another lease. */
  leaseMiss(lease: Lease): Promise<BatonError> {
    return leaseMiss(this.sql, lease);
  }
}
