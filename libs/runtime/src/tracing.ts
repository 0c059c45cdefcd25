import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@nestjs/common';
import { DiagLogLevel, ROOT_CONTEXT, SpanKind, diag, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Attributes, Context, SpanContext, Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { TRACE_ATTRIBUTES, formatTraceparent, parseTraceparent } from '@baton/contracts';
import type { ClaimedRun } from '@baton/persistence';
import type { RunningApp } from './running-app';

/*
 * Server-side tracing (docs/architecture.md, "Tracing"). Spans are made
 * through the OpenTelemetry API only, so they cost next to nothing while no
 * tracer provider is registered; setupTracing registers one, with an OTLP or
 * console exporter, when the standard OTEL_* variables ask for it.
 */

/** The exporters Baton's processes can send spans to. */
export type TraceExporterName = 'otlp' | 'console';

const SUPPORTED_EXPORTERS: readonly string[] = ['otlp', 'console'] satisfies TraceExporterName[];

const tracer = (): Tracer => trace.getTracer('@baton/runtime');

/**
 * Which exporters the standard variables ask for. Tracing is OFF unless
 * OTEL_TRACES_EXPORTER names `otlp` and/or `console`, or, with
 * OTEL_TRACES_EXPORTER unset, OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; `none` and
 * OTEL_SDK_DISABLED=true turn it off whatever else is set. Unlike a bare
 * OpenTelemetry SDK, nothing is exported by default: an engine that tries to
 * reach a collector nobody configured would only log failures.
 */
export function traceExporters(env: NodeJS.ProcessEnv): TraceExporterName[] {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return [];
  const named = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  if (named.length === 0) {
    return env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? ['otlp'] : [];
  }
  if (named.includes('none')) return [];
  return [...new Set(named)].filter((name): name is TraceExporterName => SUPPORTED_EXPORTERS.includes(name));
}

/** A process's registered tracer provider. */
export interface Tracing {
  readonly exporters: readonly TraceExporterName[];
  /** Exports the spans still buffered (an app closing). */
  flush(): Promise<void>;
  /** Flushes and stops exporting (the process exiting). */
  shutdown(): Promise<void>;
}

/**
 * The provider the OTEL_* variables of `env` ask for, not yet registered; null
 * when tracing is off (then nothing is created: no provider, no exporter).
 * `env` decides only that; the OpenTelemetry SDK itself reads the rest of the
 * standard variables from the process's environment: the endpoint and
 * headers (OTEL_EXPORTER_OTLP_*), the sampler (OTEL_TRACES_SAMPLER, default
 * parentbased_always_on), batching (OTEL_BSP_*), resource attributes
 * (OTEL_SERVICE_NAME overrides `serviceName`, OTEL_RESOURCE_ATTRIBUTES).
 */
export function createTracerProvider(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
): { provider: NodeTracerProvider; exporters: TraceExporterName[] } | null {
  const exporters = traceExporters(env);
  const unsupported = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name && name !== 'none' && !SUPPORTED_EXPORTERS.includes(name));
  if (unsupported.length > 0) {
    new Logger('tracing').warn(
      `OTEL_TRACES_EXPORTER names ${unsupported.join(', ')}: Baton exports to otlp (HTTP/protobuf) or console only`,
    );
  }
  if (exporters.length === 0) return null;
  const processors: SpanProcessor[] = exporters.map((name) =>
    name === 'otlp'
      ? new BatchSpanProcessor(new OTLPTraceExporter())
      : new SimpleSpanProcessor(new ConsoleSpanExporter()),
  );
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  return { provider: new NodeTracerProvider({ resource, spanProcessors: processors }), exporters };
}

/** undefined: not set up yet; null: set up, and off. */
let installed: Tracing | null | undefined;

/**
 * Sets tracing up for this process, once: the first call decides (the
 * all-in-one launcher names the process before its apps start; an app in a
 * process of its own names it after itself). When on, registers the provider
 * globally, with AsyncLocalStorage context and W3C propagation, so Baton's
 * spans and any the process's libraries make are exported. Returns null when
 * tracing is off.
 */
export function setupTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Tracing | null {
  if (installed !== undefined) return installed;
  const created = createTracerProvider(serviceName, env);
  if (!created) return (installed = null);
  const { provider, exporters } = created;
  // Export failures (a collector away) reach the log instead of vanishing.
  const logger = new Logger('tracing');
  diag.setLogger(
    {
      error: (message) => logger.warn(message),
      warn: (message) => logger.warn(message),
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
  provider.register();
  logger.log(`tracing on: service ${serviceName}, exporting to ${exporters.join(' and ')}`);
  installed = {
    exporters,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
  return installed;
}

/** Exports what this process's tracing still buffers; a no-op when tracing is off. Never throws. */
export async function flushTracing(): Promise<void> {
  await installed?.flush().catch(() => undefined);
}

/** Flushes and stops this process's tracing, before it exits. Never throws. */
export async function shutdownTracing(): Promise<void> {
  await installed?.shutdown().catch(() => undefined);
}

/** The app, whose close also exports the spans still buffered (a process exits right after). */
export function flushingOnClose(running: RunningApp): RunningApp {
  return { ...running, close: () => running.close().finally(flushTracing) };
}

/** A context whose parent span is the remote one `traceparent` names; the root context for none or a malformed one. */
export function contextOfTraceparent(traceparent: string | null | undefined): Context {
  const parent = parseTraceparent(traceparent);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true }) : ROOT_CONTEXT;
}

/** The traceparent of a span context; undefined for an invalid one (no tracing, nothing to continue). */
export function traceparentOf(spanContext: SpanContext | undefined): string | undefined {
  return spanContext && isSpanContextValid(spanContext) ? formatTraceparent(spanContext) : undefined;
}

/**
 * A claim, in the trace of the run it claimed: from `startedAt` (epoch ms,
 * when the claim statement was sent) to now. A run started outside any trace
 * (a schedule fired it) gets none: a lone claim span would be a trace of one.
 */
export function traceClaim(run: ClaimedRun, namespace: string, queue: string, startedAt: number, eager = false): void {
  if (!run.traceparent) return;
  const attributes: Attributes = {
    [TRACE_ATTRIBUTES.namespace]: namespace,
    [TRACE_ATTRIBUTES.queue]: queue,
    [TRACE_ATTRIBUTES.runId]: run.runId,
    [TRACE_ATTRIBUTES.workflowType]: run.workflowType,
    [TRACE_ATTRIBUTES.attempt]: run.attempt,
    [TRACE_ATTRIBUTES.workerId]: run.workerId,
    ...(eager ? { [TRACE_ATTRIBUTES.eager]: true } : {}),
  };
  tracer()
    .startSpan(
      'baton.claim',
      { kind: SpanKind.INTERNAL, startTime: startedAt, attributes },
      contextOfTraceparent(run.traceparent),
    )
    .end();
}

const callTrace = new AsyncLocalStorage<string>();

/** Runs `work` as a call made in trace context `traceparent` (see callTraceparent). */
export function runInCallTrace<T>(traceparent: string, work: () => T): T {
  return callTrace.run(traceparent, work);
}

/**
 * The trace context a run started by the current API call belongs to: the
 * caller's (the gRPC `traceparent` metadata or HTTP header), else that of the
 * call's own span when the server traces; undefined outside a traced call.
 */
export function callTraceparent(): string | undefined {
  return callTrace.getStore();
}
