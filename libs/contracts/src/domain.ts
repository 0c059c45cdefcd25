import type { PayloadEncoding } from './limits';
import type { RetryPolicy } from './retry';

export const RunStatus = {
  PENDING: 'PENDING',
  RUNNING: 'RUNNING',
  SLEEPING: 'SLEEPING',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  CANCELLED: 'CANCELLED',
  /** Stopped by an operator (Terminate) with a reason; its handler got no chance to run on. */
  TERMINATED: 'TERMINATED',
} as const;
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus];
export const RUN_STATUSES = Object.values(RunStatus);
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = [RunStatus.PENDING, RunStatus.RUNNING, RunStatus.SLEEPING];
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = [
  RunStatus.COMPLETED,
  RunStatus.FAILED,
  RunStatus.CANCELLED,
  RunStatus.TERMINATED,
];

export function isTerminal(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

export const StepKind = { FUNCTION: 'FUNCTION', SLEEP: 'SLEEP', SIGNAL: 'SIGNAL', CHILD: 'CHILD' } as const;
export type StepKind = (typeof StepKind)[keyof typeof StepKind];

export const StepStatus = { RUNNING: 'RUNNING', COMPLETED: 'COMPLETED', FAILED: 'FAILED' } as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/**
 * Step ids of this prefix are reserved for the marker `ctx.patched(id)` records
 * (a FUNCTION step `patch:<id>` completed with output true): user steps may not use it.
 */
export const PATCH_MARKER_PREFIX = 'patch:';

export const WorkerStatus = { ONLINE: 'ONLINE', DRAINING: 'DRAINING', OFFLINE: 'OFFLINE' } as const;
export type WorkerStatus = (typeof WorkerStatus)[keyof typeof WorkerStatus];

/** Bytes plus how to read them. Inside the server payloads are Buffers. */
export interface Payload {
  data: Buffer;
  encoding: PayloadEncoding;
}

export interface ErrorInfo {
  message: string;
  type?: string | null;
  stack?: string | null;
  nonRetryable?: boolean;
}

export interface RunView {
  id: string;
  namespace: string;
  queue: string;
  workflowType: string;
  status: RunStatus;
  externalId: string | null;
  attempt: number;
  /** Infrastructure recoveries (lost lease, stale worker): counted in attempt, never against the retry policy. */
  recoveries: number;
  claims: number;
  retryPolicy: RetryPolicy | null;
  input: Payload | null;
  output: Payload | null;
  error: ErrorInfo | null;
  correlationId: string | null;
  traceId: string | null;
  scheduleId: string | null;
  fireTime: Date | null;
  lockedBy: string | null;
  /**
   * Shown for diagnostics; it proves nothing. What a worker mutation must
   * carry is the claim's lease token, which no view has (invariant 13).
   */
  leaseEpoch: number;
  lockedUntil: Date | null;
  availableAt: Date;
  wakeUpAt: Date | null;
  deadlineAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
  /** The run that started this one with ctx.child, and its CHILD step; null for a run nobody started. */
  parentRunId?: string | null;
  parentStepId?: string | null;
  /** Higher is claimed first (FIFO within one priority); 0 unless the start said otherwise. */
  priority: number;
  /** At most `limit` RUNNING runs of the namespace hold this key at once; null: no concurrency key. */
  concurrency: { key: string; limit: number } | null;
}

export interface StepView {
  runId: string;
  stepId: string;
  seq: number;
  kind: StepKind;
  status: StepStatus;
  attempt: number;
  output: Payload | null;
  error: ErrorInfo | null;
  /** A failed step with `final` false will run again at `retryAt`. */
  final: boolean;
  retryAt: Date | null;
  wakeUpAt: Date | null;
  startedAt: Date;
  finishedAt: Date | null;
  /** A CHILD step's child run; null for other kinds. */
  childRunId?: string | null;
}

export interface WorkerView {
  id: string;
  namespace: string;
  queue: string;
  hostname: string;
  pid: number;
  version: string;
  workflowTypes: string[];
  maxConcurrent: number;
  typeConcurrency: Record<string, number>;
  labels: Record<string, string>;
  status: WorkerStatus;
  activeCount: number;
  registeredAt: Date;
  lastHeartbeatAt: Date;
}

export interface QueueStats {
  namespace: string;
  queue: string;
  pending: number;
  running: number;
  sleeping: number;
}

export interface ScheduleView {
  namespace: string;
  scheduleId: string;
  workflowType: string;
  queue: string;
  cron: string;
  timezone: string;
  input: Payload | null;
  maxCatchup: number;
  paused: boolean;
  nextFireAt: Date | null;
  lastFiredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}
