import { trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { ClaimedRun } from '@baton/persistence';
import {
  contextOfTraceparent,
  createTracerProvider,
  setupTracing,
  traceClaim,
  traceExporters,
  traceparentOf,
} from './tracing';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('tracing set-up (OTEL_*)', () => {
  test.each([
    [{}, []],
    [{ OTEL_SERVICE_NAME: 'baton', OTEL_TRACES_SAMPLER: 'always_on' }, []],
    [{ OTEL_TRACES_EXPORTER: 'otlp' }, ['otlp']],
    [{ OTEL_TRACES_EXPORTER: ' Console , otlp,console' }, ['console', 'otlp']],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }, ['otlp']],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }, ['otlp']],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'console' }, ['console']],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' }, []],
    [{ OTEL_TRACES_EXPORTER: 'otlp,none' }, []],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, []],
    [{ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' }, []],
  ])('%j exports to %j', (env, expected) => {
    expect(traceExporters(env)).toEqual(expected);
  });

  test('off: no provider and no exporter is created, and Baton spans stay no-ops that break nothing', async () => {
    expect(createTracerProvider('baton-test', {})).toBeNull();
    expect(setupTracing('baton-test', {})).toBeNull();
    // The first call decided for the process: a later one with tracing asked for changes nothing.
    expect(setupTracing('baton-test', { OTEL_TRACES_EXPORTER: 'console' })).toBeNull();
    expect(trace.getTracer('t').startSpan('s').isRecording()).toBe(false);
    const run = { runId: 'r', workflowType: 't', attempt: 0, workerId: 'w', traceparent: TRACEPARENT } as ClaimedRun;
    expect(() => traceClaim(run, 'ns', 'q', Date.now())).not.toThrow();
    // The remote parent is still carried (a run keeps its caller's trace even where this process does not trace).
    expect(traceparentOf(trace.getSpanContext(contextOfTraceparent(TRACEPARENT)))).toBe(TRACEPARENT);
    expect(trace.getSpanContext(contextOfTraceparent('garbage'))).toBeUndefined();
  });

  test('on: a provider with the exporters asked for, named by OTEL_SERVICE_NAME over the default', async () => {
    const created = createTracerProvider('baton-test', { OTEL_TRACES_EXPORTER: 'console,otlp' });
    expect(created?.exporters).toEqual(['console', 'otlp']);
    const span = created!.provider.getTracer('t').startSpan('s') as unknown as ReadableSpan;
    expect(span.resource.attributes['service.name']).toBe('baton-test');
    await created!.provider.shutdown();

    process.env.OTEL_SERVICE_NAME = 'renamed';
    try {
      const renamed = createTracerProvider('baton-test', { OTEL_TRACES_EXPORTER: 'otlp' });
      const named = renamed!.provider.getTracer('t').startSpan('s') as unknown as ReadableSpan;
      expect(named.resource.attributes['service.name']).toBe('renamed');
      await renamed!.provider.shutdown();
    } finally {
      delete process.env.OTEL_SERVICE_NAME;
    }
  });
});
