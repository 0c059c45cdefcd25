import { isUtf8 } from 'node:buffer';
import { BatonError, ErrorCode } from './errors';
import { LIMITS } from './limits';
import { isUuid } from './uuid';
import { INPUT_LIMITS } from './validation-limits';

/** A UTF-16 surrogate without its partner: not text, and UTF-8 cannot carry it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/**
 * A caller's value as an error message may quote it: short, and never the
 * value itself when it is not text (a 5,000-deep list must not be walked to
 * build a message).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const max = INPUT_LIMITS.quotedValueChars;
    const cut = value.length > max ? `${value.slice(0, max)}…` : value;
    return JSON.stringify(cut.replace(LONE_SURROGATES, '\uFFFD'));
  }
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return `a ${typeof value}`;
}

/**
 * The path (`workflowType`, `retry.nonRetryableErrors[0]`) of the first
 * string in a request object that holds a lone surrogate, or null. Bytes are
 * not text and are skipped. For clients: protobuf encoders turn a lone
 * surrogate into U+FFFD or into invalid UTF-8 depending on the string's
 * length, so it is refused before it is sent.
 */
export function loneSurrogatePath(value: unknown, maxDepth = 16): string | null {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value, path: '', depth: 0 }];
  while (stack.length) {
    const { value: node, path, depth } = stack.pop()!;
    if (typeof node === 'string') {
      if (hasLoneSurrogate(node)) return path || 'value';
      continue;
    }
    if (typeof node !== 'object' || node === null || node instanceof Uint8Array || depth >= maxDepth) continue;
    const entries = Array.isArray(node)
      ? node.map((v, i) => [`${path}[${i}]`, v] as const)
      : Object.entries(node).map(([k, v]) => [path ? `${path}.${k}` : k, v] as const);
    for (const [p, v] of entries.reverse()) stack.push({ value: v, path: p, depth: depth + 1 });
  }
  return null;
}

/**
 * The field name for a member of a caller's map (`labels.<key>`): the key is
 * part of the name only when it is short printable ASCII, so a field name is
 * always safe in a gRPC metadata header and the same on both transports;
 * otherwise the map itself is named (the message quotes the key).
 */
export function memberField(parent: string, key: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(key) ? `${parent}.${key}` : parent;
}

/**
 * Names (namespace, queue, workflow type, step id) and ids: non-empty, at most
 * 255 UTF-8 bytes, well-formed text without NUL. A lone surrogate would be
 * stored as U+FFFD (and arrive over gRPC as invalid UTF-8): two distinct ids
 * could then collide, so it is refused rather than repaired.
 */
export function checkName(value: unknown, field: string, maxBytes: number = LIMITS.nameBytes): string {
  if (value === undefined || value === null || value === '') {
    throw BatonError.invalid(field, `${field} is required and must not be empty`);
  }
  if (typeof value !== 'string') {
    throw BatonError.invalid(field, `${field} must be a string (got ${describeValue(value)})`);
  }
  if (value.includes('\u0000')) throw BatonError.invalid(field, `${field} must not contain NUL characters`);
  if (hasLoneSurrogate(value)) {
    throw BatonError.invalid(field, `${field} must be well-formed Unicode text (it has a lone UTF-16 surrogate)`);
  }
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) {
    throw BatonError.invalid(field, `${field} must be at most ${maxBytes} bytes (got ${bytes})`);
  }
  return value;
}

/** Optional text such as an external id: absent or empty means none. */
export function checkOptionalText(value: unknown, field: string, maxBytes: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  return checkName(value, field, maxBytes);
}

export function checkUuid(value: unknown, field: string): string {
  if (!isUuid(value)) throw BatonError.invalid(field, `${field} must be a UUID (got ${describeValue(value)})`);
  return value.toLowerCase();
}

export function checkPayloadSize(bytes: number, field: string, limit: number = LIMITS.payloadBytes): void {
  if (bytes > limit) {
    throw new BatonError(ErrorCode.PAYLOAD_TOO_LARGE, `${field} is ${bytes} bytes; the limit is ${limit} bytes`, {
      field,
    });
  }
}

export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw BatonError.invalid(field, `${field} must be an integer between ${min} and ${max}`);
  }
  if (value < min || value > max) {
    throw BatonError.invalid(field, `${field} must be between ${min} and ${max} (got ${value})`);
  }
  return value;
}

export function checkOptionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  return checkInt(value, field, min, max);
}

/** ISO 8601: a date, or a date and time with seconds optional, fractions and a zone (Z or ±hh:mm) optional. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * A point in time given as ISO 8601 text (HTTP) or epoch milliseconds
 * (gRPC's `…Ms` fields); absent, empty or 0 means none. A time without a
 * zone is UTC, never the server's local zone.
 */
export function checkOptionalTime(value: unknown, field: string): Date | undefined {
  if (value === undefined || value === null || value === '' || value === 0) return undefined;
  let time: number;
  if (typeof value === 'number') {
    time = Number.isSafeInteger(value) && value > 0 ? value : NaN;
  } else if (typeof value === 'string' && ISO_TIME.test(value)) {
    const zoned = value.length === 10 || /(Z|[+-]\d{2}:\d{2})$/.test(value) ? value : `${value}Z`;
    time = Date.parse(zoned);
  } else {
    time = NaN;
  }
  // Also refuses times JavaScript reads but PostgreSQL's timestamptz cannot hold (past year 275760).
  if (!Number.isFinite(time) || time > 8.64e15) {
    throw BatonError.invalid(
      field,
      `${field} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, or epoch milliseconds (got ${describeValue(value)})`,
    );
  }
  return new Date(time);
}

/** Optional flag: absent (or null) is `fallback`; anything but a boolean is refused ("true" is text). */
export function checkOptionalBoolean(value: unknown, field: string, fallback = false): boolean {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') {
    throw BatonError.invalid(field, `${field} must be true or false (got ${describeValue(value)})`);
  }
  return value;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An object (a JSON `{...}`), not a list, text or number. */
export function checkObject(value: unknown, field: string): Record<string, unknown> {
  if (!isPlainObject(value)) {
    throw BatonError.invalid(field, `${field} must be an object (got ${describeValue(value)})`);
  }
  return value;
}

/**
 * Refuses keys the operation does not know: a misspelt field (`queueName`)
 * must not be silently dropped, starting a run somewhere else.
 */
export function checkKnownFields(value: Record<string, unknown>, known: readonly string[], prefix = ''): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const field = `${prefix}${key}`;
      throw BatonError.invalid(field, `unknown field ${describeValue(field)}; expected one of: ${known.join(', ')}`);
    }
  }
}

/**
 * The path (e.g. `input` or `retry`) under which a parsed JSON value nests
 * deeper than `maxDepth` levels, or null. Iterative: it must not overflow on
 * the very input it guards against.
 */
export function tooDeepPath(value: unknown, maxDepth: number = INPUT_LIMITS.maxJsonDepth): string | null {
  if (typeof value !== 'object' || value === null) return null;
  const stack: Array<{ value: unknown; depth: number; top: string }> = [];
  for (const [key, child] of Object.entries(value)) stack.push({ value: child, depth: 1, top: key });
  while (stack.length) {
    const { value: node, depth, top } = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth + 1 > maxDepth) return top;
    for (const child of Object.values(node)) stack.push({ value: child, depth: depth + 1, top });
  }
  return null;
}

/** Nesting depth of JSON text, without parsing it (strings skipped). */
export function jsonTextDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/**
 * Bytes labelled JSON must be JSON (UTF-8, parseable, not nested beyond the
 * limit): otherwise every later read of them fails. Empty bytes are the empty
 * payload, which is valid.
 */
export function checkJsonBytes(data: Buffer, field: string): void {
  if (data.length === 0) return;
  if (!isUtf8(data)) throw BatonError.invalid(field, `${field} is labelled JSON but is not UTF-8 text`);
  const text = data.toString('utf8');
  try {
    JSON.parse(text);
  } catch (err) {
    throw BatonError.invalid(field, `${field} is labelled JSON but does not parse: ${(err as Error).message}`);
  }
  const depth = jsonTextDepth(text);
  if (depth > INPUT_LIMITS.maxJsonDepth) {
    throw BatonError.invalid(
      field,
      `${field} nests ${depth} levels deep; the limit is ${INPUT_LIMITS.maxJsonDepth} levels`,
    );
  }
}

/**
 * A worker's error text (message, type, stack) made storable, never refused:
 * PostgreSQL text cannot hold U+0000 and UTF-8 cannot hold a lone surrogate,
 * so both are written out as the escape a reader recognises (`\u0000`,
 * `\ud800`); over-long text is cut. Losing the failure is worse than an
 * imperfect copy of its text.
 */
export function storableText(text: string, maxChars: number = INPUT_LIMITS.maxErrorTextChars): string {
  let out = text;
  if (out.length > maxChars) {
    // Cut between the halves of a surrogate pair would leave a lone one: cut one earlier.
    const end = /[\uD800-\uDBFF]/.test(out.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
    out = out.slice(0, end);
  }
  if (out.includes('\u0000')) out = out.replaceAll('\u0000', '\\u0000');
  if (hasLoneSurrogate(out)) {
    out = out.replace(LONE_SURROGATES, (s) => `\\u${s.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  return out;
}
