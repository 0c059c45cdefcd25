import type { ErrorCode, ErrorReason } from './errors';
import type { PayloadEncoding } from './limits';
import type { RunStatus, StepKind, StepStatus } from './domain';
import type { TimerKind } from './subjects';

/** Payload on NATS (JSON): bytes as base64. */
export interface WirePayload {
  data: string;
  encoding: PayloadEncoding;
}

/** frontend → matching, request/reply on `Patterns.poll`. */
export interface PollRequest {
  workerId: string;
  namespace: string;
  queue: string;
  /** Types the worker has free capacity for right now; empty means none. */
  workflowTypes: string[];
  /** Epoch ms after which nobody will receive the reply. */
  deadlineAt: number;
}

export interface WireError {
  code: ErrorCode;
  message: string;
  field?: string;
  reason?: ErrorReason;
}

export interface WireHistoryStep {
  stepId: string;
  seq: number;
  kind: StepKind;
  status: StepStatus;
  attempt: number;
  output: WirePayload | null;
  error: { message: string; type: string | null; stack: string | null } | null;
  final: boolean;
  retryAt: number | null;
  wakeUpAt: number | null;
}

export interface WireTask {
  runId: string;
  namespace: string;
  queue: string;
  workflowType: string;
  attempt: number;
  leaseEpoch: number;
  deadlineAt: number | null;
  correlationId: string | null;
  traceId: string | null;
  /** Omitted (with `payloadsOmitted`) when it would not fit a NATS message; the frontend loads it. */
  input: WirePayload | null;
  history: WireHistoryStep[];
  payloadsOmitted: boolean;
}

export interface PollReply {
  task?: WireTask;
  error?: WireError;
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
