import {
  BatonError,
  INPUT_LIMITS,
  LIMITS,
  RETRY_LIMITS,
  RUN_STATUSES,
  checkInt,
  checkName,
  checkObject,
  checkOptionalBoolean,
  checkOptionalInt,
  checkOptionalText,
  checkOptionalTime,
  checkOptionalTraceparent,
  checkRunsPageToken,
  checkUuid,
  describeValue,
  memberField,
  parseBoundedDuration,
  parseDuration,
  parseTraceparent,
  storableText,
} from '@baton/contracts';
import type { BatonConfig, ErrorInfo, Payload, RetryPolicy, RunStatus } from '@baton/contracts';
import type { CreateRunCommand, Lease, ListRunsFilter, RegisterWorkerCommand } from '@baton/persistence';
import type { ListRequest, RegisterRequest, StartRequest } from '@baton/proto';
import { callTraceparent } from '@baton/runtime';
import { parseStartFlowControl } from './flow-control';

/*
 * Validation at the edge, shared by gRPC and HTTP: raw request fields in,
 * typed commands out. Each error names the field and the limit. Payloads are
 * decoded by the transport first (see payloads.ts) and passed in.
 */

type Raw = Record<string, unknown>;

/**
 * A request as it arrives: the fields its generated message names, each of
 * any value. gRPC decoding gives the proto's types, but an HTTP body holds
 * whatever JSON it holds, and an absent field is undefined on both: every
 * field is checked before it is used.
 */
export type Untrusted<T> = { readonly [K in keyof T]?: unknown };

const DEFAULT_QUEUE = 'default';

export function parseNamespace(value: unknown): string {
  return checkName(value, 'namespace');
}

export function parseRunId(value: unknown, field = 'runId'): string {
  return checkUuid(value, field);
}

function optionalDurationMs(value: unknown, field: string, maxMs: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw BatonError.invalid(field, `${field} must be milliseconds or a duration such as "90s"`);
  }
  return parseBoundedDuration(value, field, maxMs);
}

/** The first of `names` present in `raw` (DESIGN §13 spells intervals without the unit, the proto with Ms). */
function firstGiven(raw: Raw, names: string[]): { value: unknown; name: string } {
  const name = names.find((n) => raw[n] !== undefined && raw[n] !== null) ?? names[0]!;
  return { value: raw[name], name };
}

export function parseRetryPolicy(raw: unknown, field = 'retry'): RetryPolicy | null {
  if (raw === undefined || raw === null) return null;
  const r = checkObject(raw, field);
  const day = RETRY_LIMITS.maxIntervalMs;
  const { min: minCoefficient, max: maxCoefficient } = RETRY_LIMITS.backoffCoefficient;
  const policy: RetryPolicy = {};
  const maxAttempts = checkOptionalInt(r.maxAttempts, `${field}.maxAttempts`, 1, LIMITS.maxAttempts);
  if (maxAttempts !== undefined) policy.maxAttempts = maxAttempts;
  const initial = firstGiven(r, ['initialIntervalMs', 'initialInterval']);
  const initialMs = optionalDurationMs(initial.value, `${field}.${initial.name}`, day);
  if (initialMs !== undefined) policy.initialIntervalMs = initialMs;
  const max = firstGiven(r, ['maxIntervalMs', 'maxInterval']);
  const maxMs = optionalDurationMs(max.value, `${field}.${max.name}`, day);
  if (maxMs !== undefined) policy.maxIntervalMs = maxMs;
  if (r.backoffCoefficient !== undefined && r.backoffCoefficient !== null) {
    const c = r.backoffCoefficient;
    if (typeof c !== 'number' || !Number.isFinite(c) || c < minCoefficient || c > maxCoefficient) {
      throw BatonError.invalid(
        `${field}.backoffCoefficient`,
        `${field}.backoffCoefficient must be between ${minCoefficient} and ${maxCoefficient}`,
      );
    }
    policy.backoffCoefficient = c;
  }
  if (r.nonRetryableErrors !== undefined && r.nonRetryableErrors !== null) {
    const list = r.nonRetryableErrors;
    if (!Array.isArray(list) || list.length > RETRY_LIMITS.nonRetryableErrors) {
      throw BatonError.invalid(
        `${field}.nonRetryableErrors`,
        `${field}.nonRetryableErrors must be a list of at most ${RETRY_LIMITS.nonRetryableErrors} names`,
      );
    }
    if (list.length > 0) {
      policy.nonRetryableErrors = list.map((n, i) => checkName(n, `${field}.nonRetryableErrors[${i}]`));
    }
  }
  return Object.keys(policy).length ? policy : null;
}

/**
 * StartRequest; over HTTP `timeout` may stand for `timeoutMs` (DESIGN §13
 * names durations without the unit). The run's trace context is the item's
 * own `traceparent` (StartMany's items may come from different traces), else
 * the call's (metadata, header, or the API span's); its trace id is what the
 * run shows as `traceId` unless the caller named one.
 */
export function parseStart(
  namespace: unknown,
  raw: Untrusted<StartRequest & { timeout: unknown }>,
  input: Payload | null,
): CreateRunCommand {
  const timeout = optionalDurationMs(raw.timeoutMs ?? raw.timeout, 'timeoutMs', LIMITS.maxRunTimeoutMs);
  if (timeout === 0) throw BatonError.invalid('timeoutMs', 'timeoutMs must be positive when given');
  const traceparent = checkOptionalTraceparent(raw.traceparent, 'traceparent') ?? callTraceparent() ?? null;
  return {
    namespace: parseNamespace(namespace),
    workflowType: checkName(raw.workflowType, 'workflowType'),
    queue: raw.queue === undefined || raw.queue === '' ? DEFAULT_QUEUE : checkName(raw.queue, 'queue'),
    input,
    externalId: checkOptionalText(raw.externalId, 'externalId', LIMITS.externalIdBytes),
    retryPolicy: parseRetryPolicy(raw.retry),
    timeoutMs: timeout ?? null,
    correlationId: checkOptionalText(raw.correlationId, 'correlationId', LIMITS.correlationIdBytes),
    traceId:
      checkOptionalText(raw.traceId, 'traceId', LIMITS.correlationIdBytes) ??
      parseTraceparent(traceparent)?.traceId ??
      null,
    traceparent,
    ...parseStartFlowControl(raw),
  };
}

/**
 * The items of a batch call (StartMany's starts, a worker Batch's calls), each
 * still untrusted: each is parsed on its own, so one bad item fails alone.
 */
function parseBatchItems(value: unknown, field: string, max: number, items: string): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw BatonError.invalid(field, `${field} must be a non-empty list of ${items}`);
  }
  if (value.length > max) throw BatonError.invalid(field, `${field} may hold at most ${max} ${items}`);
  return value;
}

export const parseWorkerBatch = (value: unknown) =>
  parseBatchItems(value, 'calls', LIMITS.workerBatchCalls, 'worker calls');

export const parseStartMany = (value: unknown) =>
  parseBatchItems(value, 'starts', LIMITS.startManyItems, 'start requests');

export interface ListCommand {
  namespace: string;
  filter: ListRunsFilter;
  pageSize: number;
  pageToken: string | null;
}

export function parsePageSize(value: unknown, limits: { default: number; max: number }): number {
  if (value === undefined || value === null || value === '' || value === 0) return limits.default;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return checkInt(n, 'pageSize', 1, limits.max);
}

export function parseList(
  namespace: unknown,
  raw: Untrusted<ListRequest & { createdAfter: unknown; createdBefore: unknown }>,
): ListCommand {
  const filter: ListRunsFilter = {};
  if (raw.status !== undefined && raw.status !== '') {
    if (typeof raw.status !== 'string' || !RUN_STATUSES.includes(raw.status as RunStatus)) {
      throw BatonError.invalid('status', `status must be one of ${RUN_STATUSES.join(', ')}`);
    }
    filter.status = raw.status as RunStatus;
  }
  if (raw.workflowType !== undefined && raw.workflowType !== '')
    filter.workflowType = checkName(raw.workflowType, 'workflowType');
  if (raw.queue !== undefined && raw.queue !== '') filter.queue = checkName(raw.queue, 'queue');
  if (raw.parentRunId !== undefined && raw.parentRunId !== '') {
    filter.parentRunId = parseRunId(raw.parentRunId, 'parentRunId');
  }
  const externalId = checkOptionalText(raw.externalId, 'externalId', LIMITS.externalIdBytes);
  if (externalId !== null) filter.externalId = externalId;
  const correlationId = checkOptionalText(raw.correlationId, 'correlationId', LIMITS.correlationIdBytes);
  if (correlationId !== null) filter.correlationId = correlationId;
  // HTTP names times as ISO text (createdAfter), gRPC as epoch milliseconds (createdAfterMs).
  const after = firstGiven(raw, ['createdAfterMs', 'createdAfter']);
  const createdAfter = checkOptionalTime(after.value, after.name);
  if (createdAfter) filter.createdAfter = createdAfter;
  const before = firstGiven(raw, ['createdBeforeMs', 'createdBefore']);
  const createdBefore = checkOptionalTime(before.value, before.name);
  if (createdBefore) filter.createdBefore = createdBefore;
  return {
    namespace: parseNamespace(namespace),
    filter,
    pageSize: parsePageSize(raw.pageSize, LIMITS.runsPage),
    pageToken: checkRunsPageToken(raw.pageToken),
  };
}

export function parseWaitMs(value: unknown): number {
  const ms = optionalDurationMs(value, 'waitMs', LIMITS.maxWaitMs);
  return ms ?? 30_000;
}

/** A JSON object or protobuf map: absent is empty; a list, text or number is refused (not read as its characters). */
function optionalMap(value: unknown, field: string): Raw {
  return value === undefined || value === null ? {} : checkObject(value, field);
}

export function parseRegister(namespace: unknown, raw: Untrusted<RegisterRequest>): RegisterWorkerCommand {
  const types = raw.workflowTypes;
  if (!Array.isArray(types) || types.length === 0) {
    throw BatonError.invalid('workflowTypes', 'workflowTypes must list at least one workflow type');
  }
  if (types.length > LIMITS.workflowTypesPerWorker) {
    throw BatonError.invalid('workflowTypes', `workflowTypes may list at most ${LIMITS.workflowTypesPerWorker} types`);
  }
  const typeConcurrency: Record<string, number> = {};
  for (const [type, limit] of Object.entries(optionalMap(raw.typeConcurrency, 'typeConcurrency'))) {
    checkName(type, 'typeConcurrency');
    typeConcurrency[type] = checkInt(limit, memberField('typeConcurrency', type), 1, LIMITS.maxConcurrent);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(optionalMap(raw.labels, 'labels'))) {
    labels[checkName(k, 'labels')] = checkOptionalText(v, memberField('labels', k), LIMITS.nameBytes) ?? '';
  }
  return {
    namespace: parseNamespace(namespace),
    queue: raw.queue === undefined || raw.queue === '' ? DEFAULT_QUEUE : checkName(raw.queue, 'queue'),
    workflowTypes: [...new Set(types.map((t, i) => checkName(t, `workflowTypes[${i}]`)))],
    maxConcurrent:
      raw.maxConcurrent === undefined || raw.maxConcurrent === 0
        ? 100
        : checkInt(raw.maxConcurrent, 'maxConcurrent', 1, LIMITS.maxConcurrent),
    typeConcurrency,
    hostname: checkOptionalText(raw.hostname, 'hostname', LIMITS.nameBytes) ?? 'unknown',
    pid: checkOptionalInt(raw.pid, 'pid', 0, INPUT_LIMITS.maxInt32) ?? 0,
    version: checkOptionalText(raw.version, 'version', LIMITS.nameBytes) ?? '',
    labels,
  };
}

/** The workflow types a poll has room for: absent is none; otherwise a list of names. */
export function parsePollTypes(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw BatonError.invalid('workflowTypes', 'workflowTypes must be a list of names');
  if (value.length > LIMITS.workflowTypesPerWorker) {
    throw BatonError.invalid('workflowTypes', `workflowTypes may list at most ${LIMITS.workflowTypesPerWorker} types`);
  }
  return value.map((t: unknown, i: number) => checkName(t, `workflowTypes[${i}]`));
}

/** How many tasks a poll may carry: absent or 0 means one. */
export function parseMaxTasks(value: unknown): number {
  if (value === undefined || value === null || value === 0) return 1;
  return checkInt(value, 'maxTasks', 1, LIMITS.pollMaxTasks);
}

export function parseWorkerId(value: unknown): string {
  return checkUuid(value, 'workerId');
}

export function parseRunIds(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw BatonError.invalid(field, `${field} must be a list of run ids`);
  return value.map((id, i) => checkUuid(id, `${field}[${i}]`));
}

/**
 * A worker mutation's lease. The token (the task's leaseToken) is what proves
 * it: checked here as a UUID, so a missing or malformed one is refused by
 * name and never reaches the guard's cast.
 */
export function parseLease(raw: unknown): Lease {
  if (!raw || typeof raw !== 'object') throw BatonError.invalid('lease', 'lease is required');
  const r = raw as Raw;
  return {
    namespace: checkName(r.namespace, 'lease.namespace'),
    runId: parseRunId(r.runId, 'lease.runId'),
    workerId: checkUuid(r.workerId, 'lease.workerId'),
    leaseEpoch: checkInt(r.leaseEpoch, 'lease.leaseEpoch', 1, INPUT_LIMITS.maxInt32),
    leaseToken: checkUuid(r.leaseToken, 'lease.leaseToken'),
  };
}

export function parseStepRef(
  raw: Untrusted<{ stepId: string; seq: number }>,
  prefix = '',
): { stepId: string; seq: number } {
  return {
    stepId: checkName(raw.stepId, `${prefix}stepId`),
    seq: checkInt(raw.seq ?? 0, `${prefix}seq`, 0, INPUT_LIMITS.maxStepSeq),
  };
}

/**
 * How long a step's body ran, as its worker measured it: absent or 0 when it
 * did not, else whole milliseconds up to a run's longest timeout.
 */
export function parseStepDuration(value: unknown, field = 'durationMs'): number | null {
  if (value === undefined || value === null || value === 0) return null;
  return checkInt(value, field, 0, LIMITS.maxRunTimeoutMs);
}

/**
 * CompleteWorkflow's optional `lastStep` (the run's last step, completed with
 * it): absent, or an object with a step reference; its output is read by the
 * transport's payload parser under the returned field name.
 */
export function parseLastStep(
  raw: unknown,
): { stepId: string; seq: number; durationMs: number | null; body: Raw; outputField: string } | null {
  if (raw === undefined || raw === null) return null;
  const body = checkObject(raw, 'lastStep');
  return {
    ...parseStepRef(body, 'lastStep.'),
    durationMs: parseStepDuration(body.durationMs, 'lastStep.durationMs'),
    body,
    outputField: 'lastStep.output',
  };
}

/** A worker's error text: absent, or text. What it holds is made storable, never refused (see storableText). */
function errorText(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw BatonError.invalid(field, `${field} must be text (got ${describeValue(value)})`);
  return storableText(value);
}

/**
 * A worker's failure. Wrong types are refused (a client bug it must hear
 * about), but any text is kept: a NUL or a lone surrogate in a message must
 * not turn a workflow failure into an error of its own and leave the run
 * RUNNING.
 */
export function parseErrorInfo(raw: unknown): ErrorInfo {
  const r = raw === undefined || raw === null ? {} : checkObject(raw, 'error');
  return {
    message: errorText(r.message, 'error.message') ?? 'unknown error',
    type: errorText(r.type, 'error.type'),
    stack: errorText(r.stack, 'error.stack'),
    nonRetryable: checkOptionalBoolean(r.nonRetryable, 'error.nonRetryable'),
  };
}

/**
 * How long a Sleep call waited in its worker before it was sent: absent is 0,
 * else whole milliseconds up to the longest sleep. The server counts it up to
 * the sleep's duration, so a wake time is never before the call arrived.
 */
export function parseSleepWaited(value: unknown, field = 'waitedMs'): number {
  if (value === undefined || value === null) return 0;
  return checkInt(value, field, 0, LIMITS.maxSleepMs);
}

export function parseSleepMs(value: unknown, config: Pick<BatonConfig, 'maxSleepMs'>): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw BatonError.invalid('durationMs', 'durationMs must be milliseconds or a duration such as "90s"');
  }
  const ms = parseDuration(value, 'durationMs');
  if (ms < 0) throw BatonError.invalid('durationMs', `durationMs must not be negative (got ${ms} ms)`);
  if (ms > config.maxSleepMs) {
    throw BatonError.invalid(
      'durationMs',
      `durationMs must be at most ${config.maxSleepMs} ms (30 days); got ${ms} ms`,
    );
  }
  return ms;
}
