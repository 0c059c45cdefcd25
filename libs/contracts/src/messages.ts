import type { BusTask, ErrorInfo as ErrorMessage, Payload as PayloadMessage, Step } from '@baton/proto';
import type { ErrorCode, ErrorReason } from './errors';
import type { ErrorInfo, Payload, RunStatus, StepView } from './domain';
import type { TimerKind } from './subjects';

/** frontend → matching, request/reply on `Patterns.poll`. */
export interface PollRequest {
  workerId: string;
  namespace: string;
  queue: string;
  /** Types the worker has free capacity for right now; empty means none. */
  workflowTypes: string[];
  /** Most tasks the reply may carry (absent: one; a matching that predates it answers one). */
  maxTasks?: number;
  /** Epoch ms after which nobody will receive the reply. */
  deadlineAt: number;
}

export interface WireError {
  code: ErrorCode;
  message: string;
  field?: string;
  reason?: ErrorReason;
}

/**
 * matching → frontend: the claimed task, the very `Task` message the worker
 * receives (in its bus form: see taskToBus in @baton/proto), or why the poll
 * was refused; neither when nothing arrived in time.
 */
export interface PollReply {
  task?: BusTask;
  /**
   * The task travels without its input and history, which would not fit a
   * NATS message: the frontend loads them before handing the task out.
   */
  payloadsOmitted?: boolean;
  /** With `maxTasks` > 1: the tasks after the first, each with its own `payloadsOmitted`. */
  moreTasks?: PolledTask[];
  error?: WireError;
}

/**
 * One task of a poll reply, as `task` and `payloadsOmitted` carry the first.
 * The task carries the claim's lease token (`leaseToken`), always, payloads
 * omitted or not: it is the worker's only proof of the lease.
 */
export interface PolledTask {
  task: BusTask;
  payloadsOmitted?: boolean;
}

/*
 * Server views → the wire messages a task and its steps are made of. One
 * mapping for matching (which assembles the task) and the frontend (which
 * loads omitted payloads and answers ListSteps and BeginStep).
 */

export function payloadMessage(payload: Payload | null): PayloadMessage | undefined {
  return payload ? { data: payload.data, encoding: payload.encoding } : undefined;
}

export function errorMessage(error: ErrorInfo | null): ErrorMessage | undefined {
  return error
    ? { message: error.message, type: error.type ?? '', stack: error.stack ?? '', nonRetryable: !!error.nonRetryable }
    : undefined;
}

const ms = (d: Date | null) => (d ? d.getTime() : undefined);

export function stepMessage(step: StepView): Step {
  return {
    runId: step.runId,
    stepId: step.stepId,
    seq: step.seq,
    kind: step.kind,
    status: step.status,
    attempt: step.attempt,
    output: payloadMessage(step.output),
    error: errorMessage(step.error),
    final: step.final,
    retryAtMs: ms(step.retryAt),
    wakeUpAtMs: ms(step.wakeUpAt),
    startedAtMs: step.startedAt.getTime(),
    finishedAtMs: ms(step.finishedAt),
    childRunId: step.childRunId ?? '',
  };
}

/** Doorbell: runs may be claimable on (namespace, queue). Loss only delays work. */
export interface WorkAvailableEvent {
  namespace: string;
  queue: string;
}

/** A run reached a terminal state; wakes WaitResult long polls. */
export interface RunFinishedEvent {
  runId: string;
  namespace: string;
  status: RunStatus;
}

/**
 * A RUNNING run was cancelled: the frontend holding its worker's cancellation
 * feed pushes the id so the handler's ctx.signal aborts now. Loss only delays:
 * the worker's next heartbeat reports the run as no longer its own.
 */
export interface RunCancelledEvent {
  runId: string;
  namespace: string;
  /** The worker that held the run when it was cancelled. */
  workerId: string;
}

/**
 * A run on (namespace, queue) becomes claimable at `dueAt` (epoch ms): a step
 * or workflow retry, a sleeper, a recovery with backoff. Matching rings the
 * queue then. Loss only delays: matching re-reads due times from the database.
 */
export interface WorkDueEvent {
  namespace: string;
  queue: string;
  dueAt: number;
}

/**
 * Something of this kind is due at `dueAt` (epoch ms): a sleeper's wake time,
 * a run's deadline, a schedule's next fire. The watchdog or scheduler arms its
 * timer earlier if this is sooner. Loss only delays (the periodic tick).
 */
export interface TimerDueEvent {
  kind: TimerKind;
  dueAt: number;
}

/**
 * A worker deregistered, started draining, went OFFLINE or registered again:
 * matching drops what it cached about it, so its next poll reads the row.
 */
export interface WorkerChangedEvent {
  workerId: string;
}
