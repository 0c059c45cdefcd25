import { BatonError, ErrorCode, ErrorReason } from '@baton/contracts';

export { BatonError, ErrorCode, ErrorReason };

/** Thrown from a workflow or step: fails it at once, without retries. */
export class NonRetryableError extends Error {
  override name = 'NonRetryableError';
  /** Marks an error that fails its step or run at once, without the retries its policy would allow. */
  readonly nonRetryable = true;
  constructor(
    message: string,
    /** Recorded as the error type; defaults to the class name. */
    readonly type?: string,
  ) {
    super(message);
  }
}

/** `client.result()` of a run that FAILED. */
export class WorkflowFailedError extends Error {
  override name = 'WorkflowFailedError';
  constructor(
    /** The run that failed. */
    readonly runId: string,
    message: string,
    /** The type of the error that failed it (the error class's name, or `NonRetryableError`'s `type`). */
    readonly errorType: string | null,
    /** The stack of that error, as the worker recorded it. */
    readonly remoteStack: string | null,
  ) {
    super(message);
  }
}

/** `client.result()` of a run that was CANCELLED. */
export class WorkflowCancelledError extends Error {
  override name = 'WorkflowCancelledError';
  constructor(
    /** The run that was cancelled. */
    readonly runId: string,
  ) {
    super(`workflow run ${runId} was cancelled`);
  }
}

/** `client.result()` of a run an operator TERMINATED; `reason` is theirs. */
export class WorkflowTerminatedError extends Error {
  override name = 'WorkflowTerminatedError';
  constructor(
    /** The run that was terminated. */
    readonly runId: string,
    /** The operator's reason. */
    readonly reason: string,
  ) {
    super(`workflow run ${runId} was terminated: ${reason}`);
  }
}

/**
 * A step that failed for good, as the workflow sees it (also on replay). Its
 * retries are spent, so if the workflow lets it escape the run fails without
 * a workflow-level retry (which would only replay the same failure).
 */
export class StepFailedError extends Error {
  override name = 'StepFailedError';
  /** Its retries are spent: a workflow-level retry would only replay the same failure. */
  readonly nonRetryable = true;
  constructor(
    /** The step that failed. */
    readonly stepId: string,
    message: string,
    /** The type of the step's last error. */
    readonly errorType: string | null,
  ) {
    super(message);
  }

  /** Recorded as the run's error type: the step's own error type. */
  get type(): string {
    return this.errorType ?? 'StepFailedError';
  }
}

/** A step as replay names it: its id and kind (FUNCTION, SLEEP, ...). */
export interface StepCall {
  /** The step's id. */
  stepId: string;
  /** FUNCTION, SLEEP, SIGNAL or CHILD. */
  kind: string;
}

/** Where replay and the code parted: the position, what the history holds there, what the code asked for. */
export interface NonDeterminismDetail {
  /** The position (seq) in the run's history, in call order. */
  position: number;
  /** The step recorded at `position`; null: none there. */
  recorded: StepCall | null;
  /** What the code asked for at `position`; null: nothing (the code finished without reaching it). */
  requested: StepCall | null;
}

/** Replay asked for a step different from the recorded one: the workflow code changed. */
export class NonDeterminismError extends NonRetryableError {
  override name = 'NonDeterminismError';
  constructor(
    message: string,
    /** Where it happened, when replay can tell (the replay check reports it). */
    readonly detail: NonDeterminismDetail | null = null,
  ) {
    super(message, ErrorReason.NON_DETERMINISTIC);
  }
}

/** Aborts a handler through ctx.signal when its run passes its deadline. */
export class DeadlineExceededError extends NonRetryableError {
  override name = 'DeadlineExceededError';
  constructor(runId: string) {
    super(`workflow run ${runId} exceeded its deadline`, ErrorCode.DEADLINE_EXCEEDED);
  }
}

/** Aborts a handler through ctx.signal when its run is cancelled. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(runId: string) {
    super(`workflow run ${runId} was cancelled`);
  }
}

/**
 * The SDK gave a run up without failing it: the server said this worker no
 * longer holds it (lease lost, cancelled, finished), or it could not be
 * reached for as long as the lease may hold. Thrown from `ctx.step()` and
 * `ctx.sleep()`; whatever the handler does after it (catch it, throw another
 * error, return) is ignored, and nothing is sent for the run again: the
 * server hands it to a live worker. An infrastructure fault is never a
 * workflow failure (DESIGN §5, invariant 12).
 */
export class RunAbandonedError extends Error {
  override name = 'RunAbandonedError';
  /** Marks errors that stop a run without failing it. */
  readonly infrastructure = true;
  constructor(
    readonly runId: string,
    message: string,
    /** The server's answer or the last transport error. */
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** Aborts a handler through ctx.signal when the worker stops before it finished: the run is handed back, not failed. */
export class WorkerStoppedError extends Error {
  override name = 'WorkerStoppedError';
  /** Marks errors that stop a run without failing it. */
  readonly infrastructure = true;
  constructor(runId: string) {
    super(`the worker stopped before workflow run ${runId} finished; the run is handed back`);
  }
}

/** True for errors that end a run's execution here without it being a failure of the run. */
export function isInfrastructureStop(err: unknown): boolean {
  return err instanceof RunAbandonedError || err instanceof WorkerStoppedError || isLeaseLost(err);
}

/** True when the server says this worker no longer owns the run (cancelled, finished, or taken over). */
export function isLeaseLost(err: unknown): boolean {
  return (
    err instanceof BatonError &&
    err.code === ErrorCode.FAILED_PRECONDITION &&
    (err.reason === ErrorReason.LEASE_LOST ||
      err.reason === ErrorReason.RUN_CANCELLED ||
      err.reason === ErrorReason.RUN_TERMINAL)
  );
}

/**
 * The server refused a step's or a run's output itself (PAYLOAD_TOO_LARGE, or
 * INVALID_ARGUMENT such as nesting past the limit): sending it again cannot
 * succeed, so the step or run fails without retry.
 */
export function isRefusedOutput(err: unknown): err is BatonError {
  return (
    err instanceof BatonError && (err.code === ErrorCode.PAYLOAD_TOO_LARGE || err.code === ErrorCode.INVALID_ARGUMENT)
  );
}

/**
 * A child workflow (`ctx.child`) that did not complete, as its parent sees it
 * (also on replay): it failed (its retries spent), hit its deadline or was
 * terminated. `message` and `errorType` are the child's own. Its outcome is
 * final, so if the parent lets it escape the parent fails without a
 * workflow-level retry (which would only replay the same outcome).
 */
export class ChildWorkflowFailedError extends Error {
  override name = 'ChildWorkflowFailedError';
  /** The child's outcome is final: a workflow-level retry of the parent would only replay it. */
  readonly nonRetryable = true;
  constructor(
    /** The child's run id. */
    readonly childRunId: string,
    /** The parent's CHILD step that started it. */
    readonly stepId: string,
    message: string,
    /** The child's own error type. */
    readonly errorType: string | null,
  ) {
    super(message);
  }

  /** Recorded as the parent's error type, if it fails with this: the child's own error type. */
  get type(): string {
    return this.errorType ?? 'ChildWorkflowFailedError';
  }
}

/** A child workflow (`ctx.child`) that was CANCELLED (directly, or with a parent of its own). */
export class ChildWorkflowCancelledError extends ChildWorkflowFailedError {
  override name = 'ChildWorkflowCancelledError';
}
