import {
  BatonError,
  RETRY_OPTION_KEYS,
  checkKnownFields,
  describeValue,
  isPlainObject,
  parseDuration,
} from '@baton/contracts';
import type { Duration, RetryPolicy } from '@baton/contracts';

/**
 * A retry policy as SDK users write it. DESIGN §13 names the intervals
 * `initialInterval` and `maxInterval` (milliseconds, or a duration such as
 * `'1s'`); the wire's `initialIntervalMs` / `maxIntervalMs` are accepted too.
 * Every field is optional: unset means the default, which is not the same as
 * `maxAttempts: 1` (no retry).
 */
export interface RetryOptions {
  /** Most attempts, the first included (1: no retry). Default 3. */
  maxAttempts?: number;
  /** Wait before the first retry (milliseconds or a duration). Default 1 s. */
  initialInterval?: Duration;
  /** `initialInterval` in milliseconds (give one of the two). */
  initialIntervalMs?: number;
  /** Each wait is the previous one times this. Default 2. */
  backoffCoefficient?: number;
  /** Longest wait between attempts (milliseconds or a duration). Default 1 min. */
  maxInterval?: Duration;
  /** `maxInterval` in milliseconds (give one of the two). */
  maxIntervalMs?: number;
  /** Error types (an error's name, or NonRetryableError's `type`) that fail at once, without retry. */
  nonRetryableErrors?: string[];
}

const RETRY_KEYS: ReadonlyArray<keyof RetryOptions> = RETRY_OPTION_KEYS;

function interval(options: RetryOptions, name: 'initialInterval' | 'maxInterval', field: string): number | undefined {
  const plain = options[name];
  const ms = options[`${name}Ms`];
  if (plain !== undefined && ms !== undefined) {
    throw BatonError.invalid(`${field}.${name}`, `${field}: give ${name} or ${name}Ms, not both`);
  }
  if (plain !== undefined) return parseDuration(plain, `${field}.${name}`);
  if (ms !== undefined) {
    if (typeof ms !== 'number') {
      throw BatonError.invalid(
        `${field}.${name}Ms`,
        `${field}.${name}Ms must be milliseconds (got ${describeValue(ms)})`,
      );
    }
    return parseDuration(ms, `${field}.${name}Ms`);
  }
  return undefined;
}

function optionalNumber(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number')
    throw BatonError.invalid(field, `${field} must be a number (got ${describeValue(value)})`);
  return value;
}

/**
 * Retry options → the wire's policy (intervals in whole milliseconds). An
 * unknown key is refused, not dropped: a misspelt interval must not leave the
 * defaults in force unnoticed. Ranges are the server's to check.
 */
export function toRetryPolicy(options: RetryOptions | null | undefined, field = 'retry'): RetryPolicy | undefined {
  if (options === undefined || options === null) return undefined;
  if (!isPlainObject(options)) {
    throw BatonError.invalid(field, `${field} must be an object (got ${describeValue(options)})`);
  }
  checkKnownFields(options as Record<string, unknown>, RETRY_KEYS, `${field}.`);
  const policy: RetryPolicy = {};
  const maxAttempts = optionalNumber(options.maxAttempts, `${field}.maxAttempts`);
  if (maxAttempts !== undefined) policy.maxAttempts = maxAttempts;
  const initial = interval(options, 'initialInterval', field);
  if (initial !== undefined) policy.initialIntervalMs = initial;
  const coefficient = optionalNumber(options.backoffCoefficient, `${field}.backoffCoefficient`);
  if (coefficient !== undefined) policy.backoffCoefficient = coefficient;
  const max = interval(options, 'maxInterval', field);
  if (max !== undefined) policy.maxIntervalMs = max;
  if (options.nonRetryableErrors !== undefined) {
    const list: unknown = options.nonRetryableErrors;
    if (!Array.isArray(list) || !list.every((e) => typeof e === 'string')) {
      throw BatonError.invalid(
        `${field}.nonRetryableErrors`,
        `${field}.nonRetryableErrors must be a list of error names`,
      );
    }
    policy.nonRetryableErrors = [...list];
  }
  return policy;
}
