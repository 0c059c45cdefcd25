import { z } from 'zod';
import { BatonError, LIMITS, UUID_PATTERN } from '@baton/contracts';
import { BASE64_TEXT, checkBase64Text } from '../edge/payloads';

/*
 * Field rules of the HTTP API: each is a zod schema (the type and limits the
 * OpenAPI document shows, taken from libs/contracts constants) run after a
 * check from the edge parsers, the same functions gRPC requests go through.
 * The check decides what is refused and with which message, so an error reads
 * the same over both transports; the zod type then holds the value to what is
 * documented, and a request the document does not describe cannot get through.
 */

/** A check of the edge parsers: returns, or throws a BatonError naming the field. */
export type Check = (value: unknown) => unknown;

/** Where a refused check leaves its BatonError on the zod issue. */
export const BATON_ERROR = 'batonError';

/**
 * `doc`, validated by `check` first. A query parameter or path segment is
 * text on the wire but documented as what it means (an integer, a boolean):
 * `toDocumented` turns accepted text into that before `doc` sees it.
 */
export function rule<T extends z.ZodType>(doc: T, check: Check, toDocumented?: (value: unknown) => unknown) {
  return z.preprocess((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      if (!(err instanceof BatonError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message, input: value, params: { [BATON_ERROR]: err } });
      return value;
    }
    return toDocumented ? toDocumented(value) : value;
  }, doc);
}

type Raw = Record<string, unknown>;

/**
 * Rules for the fields of one request that a shared parser reads whole (e.g.
 * parseStart): each field is checked by running the parser on `base` (the
 * smallest valid request) with that one field set, so the message, the field
 * name and the limit are the parser's own, not a second copy of them.
 */
export function fieldsOf(parse: (raw: Raw) => unknown, base: Raw = {}) {
  return (key: string): Check =>
    (value) =>
      parse({ ...base, [key]: value });
}

/**
 * The same for a field that is one of a pair only one of which is needed (a
 * rate limit's queue or workflowType, periodMs or period): absent, null or
 * empty is left to the parser, which sees both.
 */
export function givenFieldOf(parse: (raw: Raw) => unknown, base: Raw = {}) {
  const field = fieldsOf(parse, base);
  return (key: string): Check => {
    const check = field(key);
    return (value) => (value === undefined || value === null || value === '' ? undefined : check(value));
  };
}

/* ---------- Documented types (limits from libs/contracts) ---------- */

export const doc = {
  /** A name or id: non-empty, at most `maxBytes` UTF-8 bytes (so at most as many characters), no NUL. */
  name: (description: string, maxBytes: number = LIMITS.nameBytes) =>
    z
      .string()
      .min(1)
      .max(maxBytes)
      .describe(`${description} Non-empty text of at most ${maxBytes} UTF-8 bytes, without NUL.`),
  /** Optional text: absent, null or empty means none. */
  optionalText: (description: string, maxBytes: number = LIMITS.nameBytes) =>
    z
      .string()
      .max(maxBytes)
      .nullish()
      .describe(`${description} At most ${maxBytes} UTF-8 bytes; empty or null means none.`),
  uuid: (description: string) => z.string().regex(UUID_PATTERN).meta({ format: 'uuid', description }),
  int: (min: number, max: number, description: string) => z.int().min(min).max(max).describe(description),
  /** Milliseconds, or text such as "90s", "1h30m" (units ms, s, m, h, d). */
  duration: (maxMs: number, description: string, { positive = false } = {}) =>
    z
      .union([(positive ? z.number().gt(0) : z.number().min(0)).max(maxMs), z.string()])
      .describe(
        `${description} Milliseconds (${positive ? 'above 0' : '0'} to ${maxMs}), or text such as "90s", "1h30m" or "2d".`,
      ),
  /** Any JSON value (a payload). */
  json: (description: string) => z.unknown().describe(description),
  base64: (description: string) =>
    z
      .string()
      .regex(BASE64_TEXT)
      .meta({ format: 'byte', description: `${description} Base64 text.` }),
  dateTime: (description: string) => z.string().meta({ format: 'date-time', description }),
};

/* ---------- Rules used by many routes ---------- */

/** A payload body field `key` and its binary twin `${key}Base64` (which must be base64 text). */
export function payloadFields(key: string, description: string) {
  const base64Key = `${key}Base64`;
  return {
    [key]: doc.json(`${description} Any JSON value; or send bytes as ${base64Key}.`).optional(),
    [base64Key]: rule(
      doc.base64(`Bytes instead of ${key} (${description}); wins over ${key}.`).nullish(),
      (value) => value === undefined || value === null || checkBase64Text(value, base64Key),
    ),
  };
}

/** Query text `''` means absent; digits are read as the integer they spell. */
export function queryInteger(value: unknown): unknown {
  if (value === '') return undefined;
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
}

/** Query text `''` means absent (or false, for a flag). */
export function queryText(value: unknown): unknown {
  return value === '' ? undefined : value;
}

/** `?flag=true|false`. */
export function queryBoolean(value: unknown): unknown {
  return value === '' ? undefined : value === 'true' ? true : value === 'false' ? false : value;
}

/** A duration in the query: digits are milliseconds, other text a duration such as "5s". */
export const queryDuration = queryInteger;
