import {
  HttpCode,
  RequestMapping,
  RequestMethod,
  SetMetadata,
  applyDecorators,
  createParamDecorator,
} from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import { z } from 'zod';
import { BatonError, checkKnownFields, isPlainObject } from '@baton/contracts';
import { httpBodyObject, parseQueryString } from '../edge/http-input';
import { BATON_ERROR } from './rules';

/*
 * One HTTP operation, declared once: its method and path, the schemas of its
 * path parameters, query and body (which validate every request, see
 * validateHttpInput) and of its answers (which the OpenAPI document shows,
 * see document.ts). `@HttpOperation(op)` maps the handler to the route;
 * `@HttpInput()` hands it the request once it passed the schemas.
 */

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Shape = z.ZodObject;

export interface HttpOperationSpec {
  /** operationId in the document. */
  id: string;
  method: HttpMethod;
  /** The OpenAPI path, parameters in braces: /v1/namespaces/{namespace}/workflows. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /** The status of a success. */
  status: 200 | 201 | 204;
  params?: Shape;
  query?: Shape;
  /** The JSON body. Absent: no fields (a body, if sent, must be `{}`; GET ignores it). */
  body?: Shape;
  /** A body that works as is in Swagger UI's "Try it out". */
  example?: Record<string, unknown>;
  /** The success answer; absent for 204. */
  response?: z.ZodType;
  /** Its media type, when not JSON. */
  responseType?: string;
  /** Open without a key (the probes): no security requirement, none of the common errors. */
  public?: boolean;
  responseDescription: string;
  /** Statuses of the errors it can answer with (every route: 400, 401, 403, 429, 503). */
  errors?: readonly number[];
}

export interface HttpOperation extends HttpOperationSpec {
  errors: readonly number[];
}

/** Errors any authenticated route can answer with: bad input, no or wrong key, key rate limit, database down. */
export const COMMON_ERRORS = [400, 401, 403, 429, 503] as const;

export function defineOperation<T extends HttpOperationSpec>(spec: T): T & HttpOperation {
  const common = spec.public ? [] : COMMON_ERRORS;
  const errors = [...new Set([...common, ...(spec.errors ?? [])])].sort((a, b) => a - b);
  const declared = [...spec.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  const described = Object.keys(spec.params?.shape ?? {});
  if (declared.join() !== described.join()) {
    throw new Error(`${spec.id}: path parameters ${declared.join()} but schemas for ${described.join()}`);
  }
  return { ...spec, errors };
}

const OPERATION = Symbol('baton:http-operation');

const METHODS: Record<HttpMethod, RequestMethod> = {
  get: RequestMethod.GET,
  post: RequestMethod.POST,
  put: RequestMethod.PUT,
  patch: RequestMethod.PATCH,
  delete: RequestMethod.DELETE,
};

/** Express's form of an OpenAPI path: /v1/namespaces/:namespace/workflows. */
export const expressPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

/** Serves `op` (its controller takes no path of its own: the operation holds the whole path). */
export function HttpOperation(op: HttpOperation): MethodDecorator {
  return applyDecorators(
    RequestMapping({ path: expressPath(op.path), method: METHODS[op.method] }),
    HttpCode(op.status),
    SetMetadata(OPERATION, op),
  );
}

/** The operation a handler serves, if it was declared with @HttpOperation. */
export function operationOf(handler: object): HttpOperation | undefined {
  return Reflect.getMetadata(OPERATION, handler) as HttpOperation | undefined;
}

type Raw = Record<string, unknown>;

/** A request that passed its operation's schemas: still the values as sent (the shared parsers read them). */
export interface HttpRequestInput {
  params: Record<string, string>;
  query: Raw;
  body: Raw;
}

/** The object schema inside `schema`, looking through optional, nullable and rule wrappers. */
function objectIn(schema: z.ZodType): Shape | null {
  const def = schema._zod.def as { type: string; innerType?: z.ZodType; out?: z.ZodType };
  if (schema instanceof z.ZodObject) return schema;
  if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') return objectIn(def.innerType!);
  if (def.type === 'pipe') return objectIn(def.out!);
  return null;
}

/**
 * Unknown members refused, at every level the schema describes (a misspelt
 * field must not be silently dropped), before any value is read: the known
 * names are the schema's own.
 */
function checkKnownMembers(value: Raw, schema: Shape, prefix = ''): void {
  checkKnownFields(value, Object.keys(schema.shape), prefix);
  for (const [key, member] of Object.entries(schema.shape)) {
    const nested = objectIn(member as z.ZodType);
    const inner = value[key];
    if (nested && isPlainObject(inner)) checkKnownMembers(inner, nested, `${prefix}${key}.`);
  }
}

/** `retry.nonRetryableErrors[0]`. */
function fieldOfPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)),
    '',
  );
}

/** The first refusal of `schema`, as the shared check raised it (or, failing that, zod's words naming the field). */
function check(schema: Shape | undefined, value: Raw, where: string): void {
  if (!schema) return;
  const result = schema.safeParse(value);
  if (result.success) return;
  const issue = result.error.issues[0]!;
  const raised = (issue as { params?: Record<string, unknown> }).params?.[BATON_ERROR];
  if (raised instanceof BatonError) throw raised;
  throw BatonError.invalid(fieldOfPath(issue.path) || where, issue.message);
}

const EMPTY = z.strictObject({});

/**
 * Checks a request against its operation: the body is one JSON object of
 * known fields, nested no deeper than the limit; each query parameter is
 * known and given once; then the path parameters, the query and the body
 * pass their schemas.
 */
export function validateHttpInput(
  op: HttpOperation,
  req: { params?: Record<string, string>; url: string; body: unknown },
): HttpRequestInput {
  const bodySchema = op.body ?? (op.method === 'get' ? undefined : EMPTY);
  const body = bodySchema ? httpBodyObject(req.body) : {};
  if (bodySchema) checkKnownMembers(body, bodySchema);
  const query = parseQueryString(req.url);
  checkKnownFields(query, Object.keys(op.query?.shape ?? {}));
  const params = req.params ?? {};
  check(op.params, params, 'path');
  check(op.query, query, 'query');
  check(bodySchema, body, 'body');
  return { params, query, body };
}

interface RequestLike {
  originalUrl?: string;
  url?: string;
  params?: Record<string, string>;
  body?: unknown;
}

/** `@HttpInput()`: the request of the handler's operation, validated by its schemas. */
export const HttpInput = createParamDecorator((_: unknown, ctx: ExecutionContext): HttpRequestInput => {
  const op = operationOf(ctx.getHandler());
  if (!op) throw new Error(`${ctx.getClass().name}.${ctx.getHandler().name} has no @HttpOperation`);
  const req = ctx.switchToHttp().getRequest<RequestLike>();
  return validateHttpInput(op, { params: req.params, url: req.originalUrl ?? req.url ?? '', body: req.body });
});
