import { BatonError, INPUT_LIMITS, describeValue, isPlainObject, tooDeepPath } from '@baton/contracts';

/*
 * The shape of an HTTP request, checked before any field is read: the body
 * is one JSON object nested no deeper than the limit, and the query string
 * is decoded strictly. gRPC needs none of this:
 * protobuf decoding gives typed fields and nothing else (see
 * libs/runtime grpc-decoding.ts for the bytes).
 */

type Raw = Record<string, unknown>;

/**
 * The request body as an object, nested no deeper than the limit. No body
 * (or a body that is not JSON) reads as `{}`: required fields then say so.
 * Which fields it may hold is its operation's schema's business (http-api/).
 */
export function httpBodyObject(body: unknown): Raw {
  if (body === undefined || body === null) return {};
  if (!isPlainObject(body)) {
    throw BatonError.invalid('body', `the request body must be a JSON object (got ${describeValue(body)})`);
  }
  // Before anything walks it: checks, error messages and JSON.stringify all recurse.
  const deep = tooDeepPath(body, INPUT_LIMITS.maxJsonDepth);
  if (deep !== null) {
    throw BatonError.invalid(deep, `${deep} nests deeper than ${INPUT_LIMITS.maxJsonDepth} levels`);
  }
  return body;
}

function decodeQueryText(text: string, field: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    throw BatonError.invalid(field, `${field} in the query string is not percent-encoded UTF-8`);
  }
}

/**
 * The query string, decoded strictly: Express's parser turns bytes that are
 * not UTF-8 (a lone surrogate's, say) into U+FFFD and repeats into lists;
 * here the first is refused naming the parameter, and so is the second.
 */
export function parseQueryString(url: string): Raw {
  const out = Object.create(null) as Raw;
  const start = url.indexOf('?');
  if (start < 0) return out;
  const end = url.indexOf('#', start);
  for (const part of url.slice(start + 1, end < 0 ? undefined : end).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = decodeQueryText(eq < 0 ? part : part.slice(0, eq), 'query');
    const value = decodeQueryText(eq < 0 ? '' : part.slice(eq + 1), key);
    if (key in out) throw BatonError.invalid(key, `${key} must be given once`);
    out[key] = value;
  }
  return out;
}

/** A `?flag=true|false` query parameter; absent is false. */
export function parseQueryBoolean(value: unknown, field: string): boolean {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw BatonError.invalid(field, `${field} must be true or false (got ${describeValue(value)})`);
}

/** `?drain=true|false`; absent is false. */
export const parseDrain = (value: unknown): boolean => parseQueryBoolean(value, 'drain');
