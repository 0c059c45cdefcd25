import {
  BatonError,
  LIMITS,
  RUN_STATUSES,
  checkInt,
  checkName,
  checkOptionalInt,
  checkOptionalText,
  checkUuid,
  parseBoundedDuration,
  parseDuration,
} from '@baton/contracts';
import type { BatonConfig, ErrorInfo, Payload, RetryPolicy, RunStatus } from '@baton/contracts';
import type { CreateRunCommand, Lease, ListRunsFilter, RegisterWorkerCommand } from '@baton/persistence';

/*
 * Validation at the edge, shared by gRPC and HTTP: raw request fields in,
 * typed commands out. Each error names the field and the limit. Payloads are
 * decoded by the transport first (see payloads.ts) and passed in.
 */

type Raw = Record<string, unknown>;

const DEFAULT_QUEUE = 'default';
const MAX_ERROR_TEXT = 32 * 1024;

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

export function parseRetryPolicy(raw: unknown, field = 'retry'): RetryPolicy | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object') throw BatonError.invalid(field, `${field} must be an object`);
  const r = raw as Raw;
  const day = 24 * 3_600_000;
  const policy: RetryPolicy = {};
  const maxAttempts = checkOptionalInt(r.maxAttempts, `${field}.maxAttempts`, 1, LIMITS.maxAttempts);
  if (maxAttempts !== undefined) policy.maxAttempts = maxAttempts;
  const initial = optionalDurationMs(r.initialIntervalMs ?? r.initialInterval, `${field}.initialIntervalMs`, day);
  if (initial !== undefined) policy.initialIntervalMs = initial;
  const max = optionalDurationMs(r.maxIntervalMs ?? r.maxInterval, `${field}.maxIntervalMs`, day);
  if (max !== undefined) policy.maxIntervalMs = max;
  if (r.backoffCoefficient !== undefined && r.backoffCoefficient !== null) {
    const c = r.backoffCoefficient;
    if (typeof c !== 'number' || !Number.isFinite(c) || c < 1 || c > 100) {
      throw BatonError.invalid(`${field}.backoffCoefficient`, `${field}.backoffCoefficient must be between 1 and 100`);
    }
    policy.backoffCoefficient = c;
  }
  if (r.nonRetryableErrors !== undefined && r.nonRetryableErrors !== null) {
    const list = r.nonRetryableErrors;
    if (!Array.isArray(list) || list.length > 100) {
      throw BatonError.invalid(
        `${field}.nonRetryableErrors`,
        `${field}.nonRetryableErrors must be a list of at most 100 names`,
      );
    }
    if (list.length > 0) {
      policy.nonRetryableErrors = list.map((n, i) => checkName(n, `${field}.nonRetryableErrors[${i}]`));
    }
  }
  return Object.keys(policy).length ? policy : null;
}

export function parseStart(namespace: unknown, raw: Raw, input: Payload | null): CreateRunCommand {
  const timeout = optionalDurationMs(raw.timeoutMs ?? raw.timeout, 'timeoutMs', LIMITS.maxRunTimeoutMs);
  if (timeout === 0) throw BatonError.invalid('timeoutMs', 'timeoutMs must be positive when given');
  return {
    namespace: parseNamespace(namespace),
    workflowType: checkName(raw.workflowType, 'workflowType'),
    queue: raw.queue === undefined || raw.queue === '' ? DEFAULT_QUEUE : checkName(raw.queue, 'queue'),
    input,
    externalId: checkOptionalText(raw.externalId, 'externalId', LIMITS.externalIdBytes),
    retryPolicy: parseRetryPolicy(raw.retry),
    timeoutMs: timeout ?? null,
    correlationId: checkOptionalText(raw.correlationId, 'correlationId', LIMITS.correlationIdBytes),
    traceId: checkOptionalText(raw.traceId, 'traceId', LIMITS.correlationIdBytes),
  };
}

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

/** An opaque page token: absent or empty means the first page; anything but one string is malformed. */
export function parsePageToken(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') {
    throw BatonError.invalid('pageToken', 'pageToken must be the one token a previous page returned');
  }
  return value;
}

export function parseList(namespace: unknown, raw: Raw): ListCommand {
  const filter: ListRunsFilter = {};
  if (raw.status !== undefined && raw.status !== '') {
    if (!RUN_STATUSES.includes(raw.status as RunStatus)) {
      throw BatonError.invalid('status', `status must be one of ${RUN_STATUSES.join(', ')}`);
    }
    filter.status = raw.status as RunStatus;
  }
  if (raw.workflowType !== undefined && raw.workflowType !== '')
    filter.workflowType = checkName(raw.workflowType, 'workflowType');
  if (raw.queue !== undefined && raw.queue !== '') filter.queue = checkName(raw.queue, 'queue');
  return {
    namespace: parseNamespace(namespace),
    filter,
    pageSize: parsePageSize(raw.pageSize, LIMITS.runsPage),
    pageToken: parsePageToken(raw.pageToken),
  };
}

export function parseWaitMs(value: unknown): number {
  const ms = optionalDurationMs(value, 'waitMs', LIMITS.maxWaitMs);
  return ms ?? 30_000;
}

export function parseRegister(namespace: unknown, raw: Raw): RegisterWorkerCommand {
  const types = raw.workflowTypes;
  if (!Array.isArray(types) || types.length === 0) {
    throw BatonError.invalid('workflowTypes', 'workflowTypes must list at least one workflow type');
  }
  if (types.length > LIMITS.workflowTypesPerWorker) {
    throw BatonError.invalid('workflowTypes', `workflowTypes may list at most ${LIMITS.workflowTypesPerWorker} types`);
  }
  const typeConcurrency: Record<string, number> = {};
  for (const [type, limit] of Object.entries((raw.typeConcurrency as Raw | undefined) ?? {})) {
    checkName(type, 'typeConcurrency');
    typeConcurrency[type] = checkInt(limit, `typeConcurrency.${type}`, 1, LIMITS.maxConcurrent);
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries((raw.labels as Raw | undefined) ?? {})) {
    labels[checkName(k, 'labels')] = checkOptionalText(v, `labels.${k}`, LIMITS.nameBytes) ?? '';
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
    pid: checkOptionalInt(raw.pid, 'pid', 0, 2 ** 31 - 1) ?? 0,
    version: checkOptionalText(raw.version, 'version', LIMITS.nameBytes) ?? '',
    labels,
  };
}

export function parseWorkerId(value: unknown): string {
  return checkUuid(value, 'workerId');
}

export function parseRunIds(value: unknown, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw BatonError.invalid(field, `${field} must be a list of run ids`);
  return value.map((id, i) => checkUuid(id, `${field}[${i}]`));
}

export function parseLease(raw: unknown): Lease {
  if (!raw || typeof raw !== 'object') throw BatonError.invalid('lease', 'lease is required');
  const r = raw as Raw;
  return {
    namespace: parseNamespace(r.namespace),
    runId: parseRunId(r.runId, 'lease.runId'),
    workerId: checkUuid(r.workerId, 'lease.workerId'),
    leaseEpoch: checkInt(r.leaseEpoch, 'lease.leaseEpoch', 1, 2 ** 31 - 1),
  };
}

export function parseStepRef(raw: Raw): { stepId: string; seq: number } {
  return { stepId: checkName(raw.stepId, 'stepId'), seq: checkInt(raw.seq ?? 0, 'seq', 0, 1_000_000) };
}

export function parseErrorInfo(raw: unknown): ErrorInfo {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Raw;
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, MAX_ERROR_TEXT) : null);
  return {
    message: text(r.message) ?? 'unknown error',
    type: text(r.type),
    stack: text(r.stack),
    nonRetryable: r.nonRetryable === true,
  };
}

export function parseSleepMs(value: unknown, config: BatonConfig): number {
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
