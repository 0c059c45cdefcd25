import { createParamDecorator } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import {
  BatonError,
  INPUT_LIMITS,
  RETRY_OPTION_KEYS,
  checkKnownFields,
  describeValue,
  isPlainObject,
  tooDeepPath,
} from '@baton/contracts';
import { CONCURRENCY_FIELDS } from './flow-control';

/*
 * The shape of an HTTP request, checked before any field is read: the body
 * is one JSON object nested no deeper than the limit, and every body field
 * and query parameter is one the operation knows. gRPC needs none of this:
 * protobuf decoding gives typed fields and nothing else (see
 * libs/runtime grpc-decoding.ts for the bytes).
 */

type Raw = Record<string, unknown>;

const LEASE = ['workerId', 'leaseEpoch', 'leaseToken'] as const;

/** Body fields per operation (payloads come as `x` or `xBase64`; durations with or without the unit). */
export const BODY_FIELDS = {
  start: [
    'workflowType',
    'queue',
    'input',
    'inputBase64',
    'externalId',
    'retry',
    'timeoutMs',
    'timeout',
    'correlationId',
    'traceId',
    'priority',
    'concurrency',
  ],
  createSchedule: [
    'scheduleId',
    'workflowType',
    'queue',
    'cron',
    'timezone',
    'input',
    'inputBase64',
    'maxCatchup',
    'paused',
  ],
  updateSchedule: ['cron', 'timezone', 'workflowType', 'queue', 'input', 'inputBase64', 'maxCatchup'],
  register: ['queue', 'workflowTypes', 'maxConcurrent', 'typeConcurrency', 'hostname', 'pid', 'version', 'labels'],
  heartbeat: ['activeRunIds'],
  poll: ['queue', 'workflowTypes', 'maxTasks'],
  beginStep: [...LEASE, 'seq'],
  completeStep: [...LEASE, 'seq', 'output', 'outputBase64'],
  failStep: [...LEASE, 'seq', 'error', 'retry'],
  sleep: [...LEASE, 'stepId', 'seq', 'durationMs', 'duration', 'lastStep'],
  completeWorkflow: [...LEASE, 'output', 'outputBase64', 'lastStep'],
  failWorkflow: [...LEASE, 'error'],
  none: [],
} as const satisfies Record<string, readonly string[]>;

/** Query parameters per operation. */
export const QUERY_FIELDS = {
  listRuns: ['status', 'workflowType', 'queue', 'pageSize', 'pageToken', 'parentRunId'],
  listSteps: ['pageSize', 'pageToken'],
  waitResult: ['waitMs', 'wait'],
  listSchedules: ['workflowType', 'pageSize', 'pageToken'],
  listWorkers: ['queue', 'status', 'pageSize'],
  deregister: ['drain'],
  none: [],
} as const satisfies Record<string, readonly string[]>;

/** Members of the nested objects a body may carry. */
const NESTED_FIELDS: Record<string, readonly string[]> = {
  retry: RETRY_OPTION_KEYS,
  error: ['message', 'type', 'stack', 'nonRetryable'],
  concurrency: CONCURRENCY_FIELDS,
};

/**
 * The request body as an object whose fields are all `known`. No body (or a
 * body that is not JSON) reads as `{}`: required fields then say so.
 */
export function httpBody(body: unknown, known: readonly string[]): Raw {
  if (body === undefined || body === null) return {};
  if (!isPlainObject(body)) {
    throw BatonError.invalid('body', `the request body must be a JSON object (got ${describeValue(body)})`);
  }
  // Before anything walks it: checks, error messages and JSON.stringify all recurse.
  const deep = tooDeepPath(body, INPUT_LIMITS.maxJsonDepth);
  if (deep !== null) {
    throw BatonError.invalid(deep, `${deep} nests deeper than ${INPUT_LIMITS.maxJsonDepth} levels`);
  }
  checkKnownFields(body, known);
  for (const [name, members] of Object.entries(NESTED_FIELDS)) {
    const value = body[name];
    if (known.includes(name) && isPlainObject(value)) checkKnownFields(value, members, `${name}.`);
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

/** Query parameters, each known and given once. */
export function httpQuery(url: string, known: readonly string[]): Raw {
  const raw = parseQueryString(url);
  checkKnownFields(raw, known);
  return raw;
}

interface RequestLike {
  originalUrl?: string;
  url?: string;
  body?: unknown;
}

/** `@HttpQuery(QUERY_FIELDS.x)`: the checked query parameters of the operation. */
export const HttpQuery = createParamDecorator((known: readonly string[], ctx: ExecutionContext): Raw => {
  const req = ctx.switchToHttp().getRequest<RequestLike>();
  return httpQuery(req.originalUrl ?? req.url ?? '', known);
});

/** `@HttpBody(BODY_FIELDS.x)`: the checked JSON body of the operation. */
export const HttpBody = createParamDecorator((known: readonly string[], ctx: ExecutionContext): Raw =>
  httpBody(ctx.switchToHttp().getRequest<RequestLike>().body, known),
);

/** A `?flag=true|false` query parameter; absent is false. */
export function parseQueryBoolean(value: unknown, field: string): boolean {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return true;
  throw BatonError.invalid(field, `${field} must be true or false (got ${describeValue(value)})`);
}

/** `?drain=true|false`; absent is false. */
export const parseDrain = (value: unknown): boolean => parseQueryBoolean(value, 'drain');
