import type { ErrorInfo, Payload, RunStatus } from '@baton/contracts';
import type { Sql } from '../sql';
import { beginStep, completeRun, completeStep, failRun, leaseMiss, parkForRetry, sleep } from '../transitions';
import type { BatonError } from '@baton/contracts';
import type { CompletedStep, FailureOutcome, Lease, StepBegin, StepFailure } from '../transitions';

/**
 * Every worker mutation (invariant 1), guarded by the lease: it applies only
 * while (run, worker, lease_epoch) is the current owner and the run is
 * RUNNING. The statements live in ../transitions.
 */
export class ExecutionRepository {
  constructor(private readonly sql: Sql) {}

  /** Records a step as RUNNING, or reports its stored result if it already completed (replay). */
  beginStep(lease: Lease, stepId: string, seq: number): Promise<StepBegin> {
    return beginStep(this.sql, lease, stepId, seq);
  }

  completeStep(lease: Lease, stepId: string, seq: number, output: Payload | null): Promise<{ attempt: number }> {
    return completeStep(this.sql, lease, stepId, seq, output);
  }

  /** A failed step attempt: the run is parked until the step's retry_at, or the step fails for good. */
  failStep(lease: Lease, stepId: string, seq: number, failure: StepFailure): Promise<FailureOutcome> {
    return parkForRetry(this.sql, lease, stepId, seq, failure);
  }

  /** RUNNING → SLEEPING until now + duration (or the wake time already recorded for this step). */
  sleep(lease: Lease, stepId: string, seq: number, durationMs: number): Promise<{ wakeUpAt: Date }> {
    return sleep(this.sql, lease, stepId, seq, durationMs);
  }

  /** RUNNING → COMPLETED with the output, and the run's last step with it: one statement. */
  completeRun(lease: Lease, output: Payload | null, lastStep: CompletedStep | null = null): Promise<void> {
    return completeRun(this.sql, lease, output, lastStep);
  }

  /** RUNNING → PENDING (retry by the run's policy, attempt + 1) or FAILED. */
  failRun(lease: Lease, error: ErrorInfo): Promise<FailureOutcome & { status: RunStatus }> {
    return failRun(this.sql, lease, error);
  }

  /** Why a guarded mutation matched no row: the run is gone, finished, or owned by another lease. */
  leaseMiss(lease: Lease): Promise<BatonError> {
    return leaseMiss(this.sql, lease);
  }
}
