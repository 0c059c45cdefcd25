import type {
  ErrorInfo,
  Payload,
  PayloadEncoding,
  RunStatus,
  RunView,
  StepKind,
  StepStatus,
  StepView,
  WorkerStatus,
  WorkerView,
} from '@baton/contracts';

/* Row → view mappers, shared by every repository so a column is read one way. */

type Row = Record<string, any>;

export function payloadOf(data: Buffer | null | undefined, encoding: string | null | undefined): Payload | null {
  if (encoding === null || encoding === undefined) return null;
  return { data: data ?? Buffer.alloc(0), encoding: encoding as PayloadEncoding };
}

function errorOf(row: Row): ErrorInfo | null {
  if (row.error_message === null || row.error_message === undefined) return null;
  return {
    message: row.error_message,
    type: row.error_type ?? null,
    stack: row.error_stack ?? null,
    ...(row.error_non_retryable !== undefined ? { nonRetryable: row.error_non_retryable ?? false } : {}),
  };
}

/**
 * pg reads UNTIL_WOKEN ('infinity', a run parked until a signal or a child
 * wakes it) as the number Infinity, which no view can show: the wake time is
 * then none, and the time it becomes claimable the latest a Date can hold.
 */
const UNTIL_WOKEN_DATE = new Date(8.64e15);
const finiteTime = (value: Date | number | null): Date | null => (value instanceof Date ? value : null);

/** The row's lease_token is never read here: no view shows it (invariant 13), only the claimed task. */
export function toRunView(row: Row): RunView {
  return {
    id: row.id,
    namespace: row.namespace,
    queue: row.task_queue,
    workflowType: row.workflow_type,
    status: row.status as RunStatus,
    externalId: row.external_id,
    attempt: row.attempt,
    recoveries: row.recoveries ?? 0,
    claims: row.claims,
    retryPolicy: row.retry_policy,
    input: payloadOf(row.input, row.input_encoding),
    output: payloadOf(row.output, row.output_encoding),
    error: errorOf(row),
    correlationId: row.correlation_id,
    traceId: row.trace_id,
    scheduleId: row.schedule_id,
    fireTime: row.fire_time,
    lockedBy: row.locked_by,
    leaseEpoch: row.lease_epoch,
    lockedUntil: row.locked_until,
    availableAt: finiteTime(row.available_at) ?? UNTIL_WOKEN_DATE,
    wakeUpAt: finiteTime(row.wake_up_at),
    deadlineAt: row.deadline_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
    parentRunId: row.parent_run_id ?? null,
    parentStepId: row.parent_step_id ?? null,
    priority: row.priority ?? 0,
    concurrency:
      row.concurrency_key === null || row.concurrency_key === undefined
        ? null
        : { key: row.concurrency_key, limit: row.concurrency_limit },
  };
}

/**
 * A SLEEP step is COMPLETED once its wake time has passed; that is derived
 * here (with the database clock, `row.now`) rather than written by a timer.
 */
export function toStepView(row: Row): StepView {
  const sleptOut = row.kind === 'SLEEP' && row.wake_up_at !== null && row.slept_out === true;
  return {
    runId: row.run_id,
    stepId: row.step_id,
    seq: row.seq,
    kind: row.kind as StepKind,
    status: (sleptOut ? 'COMPLETED' : row.status) as StepStatus,
    attempt: row.attempt,
    output: payloadOf(row.output, row.output_encoding),
    error: errorOf(row),
    final: row.final,
    retryAt: row.retry_at,
    wakeUpAt: row.wake_up_at,
    startedAt: row.started_at,
    finishedAt: sleptOut ? row.wake_up_at : row.finished_at,
    childRunId: row.child_run_id ?? null,
  };
}

/** Columns of step_runs plus the derived `slept_out`. */
export const STEP_COLUMNS = `s.*, (s.kind = 'SLEEP' AND s.wake_up_at <= now()) AS slept_out`;

export function toWorkerView(row: Row): WorkerView {
  return {
    id: row.id,
    namespace: row.namespace,
    queue: row.task_queue,
    hostname: row.hostname,
    pid: row.pid,
    version: row.version,
    workflowTypes: row.workflow_types,
    maxConcurrent: row.max_concurrent,
    typeConcurrency: row.type_concurrency ?? {},
    labels: row.labels ?? {},
    status: row.status as WorkerStatus,
    activeCount: row.active_count,
    registeredAt: row.registered_at,
    lastHeartbeatAt: row.last_heartbeat_at,
  };
}

/** Opaque keyset cursor: the exact created_at text (microseconds kept) and id. */
export function encodeCursor(parts: Record<string, string>): string {
  return Buffer.from(JSON.stringify(parts), 'utf8').toString('base64url');
}

export function decodeCursor(token: string, keys: string[]): Record<string, string> | null {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return null;
    const record = parsed as Record<string, unknown>;
    return keys.every((k) => typeof record[k] === 'string') ? (record as Record<string, string>) : null;
  } catch {
    return null;
  }
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}
