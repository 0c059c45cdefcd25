import { BatonError } from './errors';
import { isUuid } from './uuid';
import { checkName, isPlainObject } from './validation';

/*
 * Page tokens are opaque to callers but not to the edge: a token is checked
 * in full before it reaches a query, so a forged one is INVALID_ARGUMENT
 * naming `pageToken`, never a database error. The formats are the ones the
 * repositories write (libs/persistence encodes them):
 *   runs       base64url of {"t": created_at::text, "i": run id}
 *   schedules  base64url of {"s": last schedule id}
 *   steps      the last seq, in decimal
 */

const FIELD = 'pageToken';
/** step_runs.seq is an int4. */
const MAX_SEQ = 2 ** 31 - 1;

function malformed(): BatonError {
  return BatonError.invalid(FIELD, `${FIELD} is malformed; pass the token a previous page returned`);
}

function cursor(token: string, keys: string[]): Record<string, string> {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw malformed();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw malformed();
  }
  if (!isPlainObject(parsed) || !keys.every((k) => typeof parsed[k] === 'string')) throw malformed();
  return parsed as Record<string, string>;
}

/**
 * `created_at::text` as PostgreSQL writes it in ISO style
 * (`2026-01-02 03:04:05.123456+00`): a real calendar time, and an offset
 * PostgreSQL accepts (at most 15:59:59 either way).
 */
export function isCursorTimestamp(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-](\d{2})(?::(\d{2}))?(?::(\d{2}))?$/.exec(
    text,
  );
  if (!m) return false;
  const [y, mo, d, hh, mm, ss, oh, om = 0, os = 0] = m
    .slice(1)
    .map((v) => (v === undefined ? 0 : Number(v))) as number[];
  if (oh! > 15 || om > 59 || os > 59) return false;
  const date = new Date(Date.UTC(y!, mo! - 1, d!, hh!, mm!, ss!));
  return (
    y! >= 1 &&
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo! - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === hh &&
    date.getUTCMinutes() === mm &&
    date.getUTCSeconds() === ss
  );
}

/** Absent or empty: the first page. Anything else must be exactly one token string. */
function tokenText(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') {
    throw BatonError.invalid(FIELD, `${FIELD} must be the one token a previous page returned`);
  }
  return value;
}

export function checkRunsPageToken(value: unknown): string | null {
  const token = tokenText(value);
  if (token === null) return null;
  const c = cursor(token, ['t', 'i']);
  if (!isCursorTimestamp(c.t!) || !isUuid(c.i)) throw malformed();
  return token;
}

export function checkSchedulesPageToken(value: unknown): string | null {
  const token = tokenText(value);
  if (token === null) return null;
  const c = cursor(token, ['s']);
  try {
    checkName(c.s, FIELD);
  } catch {
    throw malformed();
  }
  return token;
}

export function checkStepsPageToken(value: unknown): string | null {
  const token = tokenText(value);
  if (token === null) return null;
  if (!/^\d{1,10}$/.test(token) || Number(token) > MAX_SEQ) throw malformed();
  return token;
}
