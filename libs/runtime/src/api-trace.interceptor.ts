import { HttpException } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Metadata } from '@grpc/grpc-js';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import {
  BatonError,
  Role,
  TRACEPARENT_HEADER,
  TRACE_ATTRIBUTES,
  formatTraceparent,
  httpStatusOf,
  parseTraceparent,
} from '@baton/contracts';
import type { Request } from 'express';
import { finalize, tap } from 'rxjs';
import type { Observable } from 'rxjs';
import { ACCESS_METADATA } from './access';
import type { AccessDeclaration } from './access';
import { runInCallTrace, traceparentOf } from './tracing';

/** rpc.* are still incubating in semantic-conventions, whose advice is to copy such names rather than import them. */
const RPC_ATTRIBUTES = { system: 'rpc.system', service: 'rpc.service', method: 'rpc.method' } as const;

/** Longest request value copied into a span attribute: names are at most 255 bytes once validated. */
const MAX_ATTRIBUTE_CHARS = 255;

interface ApiCall {
  /**
   * The span's name (`baton.api WorkflowService/Start`, `baton.api POST
   * /v1/namespaces/:namespace/workflows`) and attributes: built only for a
   * span that is started (worker calls outside a trace start none).
   */
  span(): { name: string; attributes: Attributes };
  /** The caller's traceparent as it came (metadata or header), unchecked. */
  traceparent: unknown;
}

/** A request value worth an attribute: a string of reasonable length (the handler validates it later). */
function cheap(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ATTRIBUTE_CHARS ? value : undefined;
}

function runAttributes(namespace: unknown, runId: unknown): Attributes {
  const attributes: Attributes = {};
  const ns = cheap(namespace);
  const run = cheap(runId);
  if (ns) attributes[TRACE_ATTRIBUTES.namespace] = ns;
  if (run) attributes[TRACE_ATTRIBUTES.runId] = run;
  return attributes;
}

/** A gRPC call; null for the bus's messages, which share the 'rpc' context type. */
function grpcCall(ctx: ExecutionContext): ApiCall | null {
  const [data, metadata, call] = ctx.getArgs<[unknown, unknown, { getPath?(): string } | undefined]>();
  if (!(metadata instanceof Metadata)) return null;
  return {
    span: () => {
      // "/baton.v1.WorkflowService/Start"
      const [, qualified = ctx.getClass().name, method = ctx.getHandler().name] =
        /^\/([^/]+)\/([^/]+)$/.exec(call?.getPath?.() ?? '') ?? [];
      const service = qualified.slice(qualified.lastIndexOf('.') + 1);
      const message = (data ?? {}) as { namespace?: unknown; runId?: unknown; lease?: { runId?: unknown } };
      return {
        name: `baton.api ${service}/${method}`,
        attributes: {
          [RPC_ATTRIBUTES.system]: 'grpc',
          [RPC_ATTRIBUTES.service]: qualified,
          [RPC_ATTRIBUTES.method]: method,
          ...runAttributes(message.namespace, message.runId ?? message.lease?.runId),
        },
      };
    },
    traceparent: metadata.get(TRACEPARENT_HEADER)[0],
  };
}

function httpCall(ctx: ExecutionContext): ApiCall {
  const req = ctx.switchToHttp().getRequest<Request>();
  return {
    span: () => {
      const route = (req.route as { path?: string } | undefined)?.path ?? req.path;
      return {
        name: `baton.api ${req.method} ${route}`,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: req.method,
          [ATTR_HTTP_ROUTE]: route,
          ...runAttributes(req.params?.namespace, req.params?.runId),
        },
      };
    },
    traceparent: req.headers[TRACEPARENT_HEADER],
  };
}

/**
 * A failure the server must answer for (5xx) marks the span ERROR; a refusal
 * of the caller's request (4xx: invalid, not found, ...) is the API working
 * as it should, recorded by its code alone.
 */
function recordFailure(span: Span, err: unknown): void {
  if (err instanceof BatonError) span.setAttribute(TRACE_ATTRIBUTES.errorCode, err.code);
  const status =
    err instanceof BatonError ? httpStatusOf(err.code) : err instanceof HttpException ? err.getStatus() : 500;
  if (status < 500) return;
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/**
 * One SERVER span per API call, gRPC or HTTP (`baton.api <Service>/<Method>`
 * or `baton.api <METHOD> <route>`), child of the caller's `traceparent`
 * (metadata or header) and active while the handler runs, so that what the
 * handler starts joins it. A run started by the call keeps the caller's
 * trace context (see callTraceparent). Probes (public routes) are not traced;
 * the worker protocol only within a caller's trace: a worker's own polls and
 * heartbeats would otherwise make a trace every few seconds.
 */
export class ApiTraceInterceptor implements NestInterceptor {
  private readonly reflector = new Reflector();

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const type = ctx.getType();
    const call = type === 'http' ? httpCall(ctx) : type === 'rpc' ? grpcCall(ctx) : null;
    if (!call) return next.handle();
    const access = this.reflector.getAllAndOverride<AccessDeclaration | undefined>(ACCESS_METADATA, [
      ctx.getHandler(),
      ctx.getClass(),
    ]);
    if (access === 'public') return next.handle();
    const incoming = parseTraceparent(Array.isArray(call.traceparent) ? call.traceparent[0] : call.traceparent);
    if (!incoming && access?.role === Role.WORKER) return next.handle();
    const parent = incoming ? trace.setSpanContext(ROOT_CONTEXT, { ...incoming, isRemote: true }) : ROOT_CONTEXT;
    const { name, attributes } = call.span();
    const span = trace.getTracer('@baton/runtime').startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    const runParent = incoming ? formatTraceparent(incoming) : traceparentOf(span.spanContext());
    if (!span.isRecording()) return runParent ? runInCallTrace(runParent, () => next.handle()) : next.handle();
    const active = trace.setSpan(parent, span);
    return runInCallTrace(runParent!, () => context.with(active, () => next.handle())).pipe(
      tap({ error: (err: unknown) => recordFailure(span, err) }),
      finalize(() => span.end()),
    );
  }
}
