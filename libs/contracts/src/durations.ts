import { BatonError } from './errors';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/** A duration: milliseconds as a number, or text such as `'250ms'`, `'90s'`, `'1h30m'`, `'30d'`. */
export type Duration = number | string;

/**
 * Parses a duration to whole milliseconds. Negative numbers are returned as they are so the
 * caller can name its own field and limit in the error; malformed text throws INVALID_ARGUMENT.
 */
export function parseDuration(value: Duration, field = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw BatonError.invalid(field, `${field} must be a finite number of milliseconds`);
    return Math.round(value);
  }
  if (typeof value !== 'string')
    throw BatonError.invalid(field, `${field} must be milliseconds or a duration such as "90s"`);
  const text = value.trim();
  if (/^-?\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text));
  if (text.startsWith('-') && WHOLE.test(text.slice(1))) return -parseDuration(text.slice(1), field);
  if (!WHOLE.test(text)) {
    throw BatonError.invalid(
      field,
      `${field} "${value}" is not a duration (use milliseconds or e.g. "90s", "1h30m", "30d")`,
    );
  }
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(total);
}

/** Parses and range-checks in one go: the error names the field and the limit. */
export function parseBoundedDuration(value: Duration, field: string, maxMs: number): number {
  const ms = parseDuration(value, field);
  if (ms < 0) throw BatonError.invalid(field, `${field} must not be negative (got ${ms} ms)`);
  if (ms > maxMs) throw BatonError.invalid(field, `${field} must be at most ${maxMs} ms (got ${ms} ms)`);
  return ms;
}
