import {
  BatonError,
  FLOW_CONTROL,
  RateLimitScope,
  checkInt,
  checkName,
  checkObject,
  parseDuration,
} from '@baton/contracts';
import type { ConcurrencyOption } from '@baton/contracts';
import type { RateLimitTarget, SetRateLimitCommand } from '@baton/persistence';
import type { DeleteRateLimitRequest, SetRateLimitRequest, StartRequest } from '@baton/proto';
import type { Untrusted } from './requests';

/*
 * Validation of flow control (run priority, concurrency keys, rate limits),
 * shared by gRPC and HTTP: see requests.ts for the conventions. Each error
 * names the field and the limit.
 */

const given = (value: unknown) => value !== undefined && value !== null && value !== '';

/** A start's `priority`: absent is 0 (gRPC's proto3 default reads the same). */
export function parsePriority(value: unknown): number {
  if (value === undefined || value === null) return FLOW_CONTROL.priority.default;
  return checkInt(value, 'priority', FLOW_CONTROL.priority.min, FLOW_CONTROL.priority.max);
}

/** A start's `concurrency`: absent is none; otherwise both a key and a limit. */
export function parseConcurrency(value: unknown): ConcurrencyOption | null {
  if (value === undefined || value === null) return null;
  const raw = checkObject(value, 'concurrency');
  const { min, max } = FLOW_CONTROL.concurrencyLimit;
  return {
    key: checkName(raw.key, 'concurrency.key'),
    limit: checkInt(raw.limit, 'concurrency.limit', min, max),
  };
}

/** The flow-control options of a StartRequest (over HTTP, the same fields of the body). */
export function parseStartFlowControl(raw: Untrusted<Pick<StartRequest, 'priority' | 'concurrency'>>): {
  priority: number;
  concurrency: ConcurrencyOption | null;
} {
  return { priority: parsePriority(raw.priority), concurrency: parseConcurrency(raw.concurrency) };
}

/** What a rate limit applies to: exactly one of `queue` and `workflowType`. */
export function parseRateLimitTarget(
  namespace: unknown,
  raw: Untrusted<Pick<DeleteRateLimitRequest, 'queue' | 'workflowType'>>,
): RateLimitTarget {
  const ns = checkName(namespace, 'namespace');
  if (given(raw.queue) === given(raw.workflowType)) {
    throw BatonError.invalid('queue', 'exactly one of queue and workflowType must be given');
  }
  return given(raw.queue)
    ? { namespace: ns, scope: RateLimitScope.QUEUE, name: checkName(raw.queue, 'queue') }
    : { namespace: ns, scope: RateLimitScope.WORKFLOW_TYPE, name: checkName(raw.workflowType, 'workflowType') };
}

/** SetRateLimitRequest; over HTTP `period` may stand for `periodMs` (a duration such as "2s"). */
export function parseSetRateLimit(
  namespace: unknown,
  raw: Untrusted<SetRateLimitRequest & { period: unknown }>,
): SetRateLimitCommand {
  const target = parseRateLimitTarget(namespace, raw);
  const limit = checkInt(raw.limit, 'limit', FLOW_CONTROL.rateLimit.min, FLOW_CONTROL.rateLimit.max);
  const field = given(raw.periodMs) ? 'periodMs' : given(raw.period) ? 'period' : 'periodMs';
  const value = given(raw.periodMs) ? raw.periodMs : raw.period;
  const { min, max } = FLOW_CONTROL.ratePeriodMs;
  if (!given(value)) throw BatonError.invalid(field, `${field} is required (${min} ms to ${max} ms)`);
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw BatonError.invalid(field, `${field} must be milliseconds or a duration such as "2s"`);
  }
  const periodMs = parseDuration(value, field);
  if (periodMs < min || periodMs > max) {
    throw BatonError.invalid(field, `${field} must be between ${min} ms and ${max} ms (got ${periodMs} ms)`);
  }
  return { ...target, limit, periodMs };
}
