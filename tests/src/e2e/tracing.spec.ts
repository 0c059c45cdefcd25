import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';

/*
 * W3C trace context end to end (docs/architecture.md, "Tracing"). The apps,
 * the client and the workers all run in this process, so one in-memory
 * exporter registered here sees every span each of them makes: the test's
 * own, the SDK's (start, run, step, completion) and the servers' (API calls,
 * claims).
 */

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = () => trace.getTracer('tracing.spec');

/** The finished spans of one trace. */
const spansOf = (traceId: string) => exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const parentOf = (span: ReadableSpan | undefined) => span?.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan | undefined) => span?.spanContext().spanId;

/** The finished spans of one trace, once they hold `count` spans named `name` (spans end as their work does). */
async function spansOnce(traceId: string, want: Record<string, number>): Promise<ReadableSpan[]> {
  const ready = () => Object.entries(want).every(([name, count]) => named(spansOf(traceId), name).length === count);
  await waitFor(ready, `spans ${JSON.stringify(want)} in trace ${traceId}`);
  return spansOf(traceId);
}

/** Runs `work` inside a fresh active span of the test's, as an application would start a run. */
async function inSpan<T>(name: string, work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, async (span) => {
    try {
      return await work(span);
    } finally {
      span.end();
    }
  });
}

describe('Tracing: one W3C trace from the caller to every execution of the run', () => {
  let h: TestHarness;

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  test('caller span → API span → claim → run → steps → completion, all in one trace', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('traced', async (ctx: WorkflowContext) => {
      const a = await ctx.step('one', () => 1);
      const b = await ctx.step('two', async () => {
        // The step's body runs in its span: what the application traces there nests under it.
        tracer().startSpan('app.inside-step').end();
        return 2;
      });
      return a + b;
    });
    // Started outside any span: the worker's own loops belong to no trace.
    await worker.start();
    const client = h.client();

    const { runId, traceId, callerId } = await inSpan('test.caller', async (span) => {
      const run = await client.start('traced', null, { queue });
      return { runId: run.id, traceId: span.spanContext().traceId, callerId: span.spanContext().spanId };
    });
    await expect(client.result(runId)).resolves.toBe(3);
    // The run shows the trace id of the trace it was started in.
    expect((await client.get(runId)).traceId).toBe(traceId);

    const spans = await spansOnce(traceId, { 'baton.run traced': 1, 'baton.complete': 1 });
    const [start] = named(spans, 'baton.start traced');
    const [api] = named(spans, 'baton.api WorkflowService/Start');
    const [claim] = named(spans, 'baton.claim');
    const [run] = named(spans, 'baton.run traced');
    const [one] = named(spans, 'baton.step one');
    const [two] = named(spans, 'baton.step two');
    const [complete] = named(spans, 'baton.complete');
    expect(parentOf(start)).toBe(callerId);
    expect(parentOf(api)).toBe(idOf(start));
    expect(api!.attributes).toMatchObject({ 'baton.namespace': 'default', 'rpc.method': 'Start' });
    // The run's stored trace context is the start span's: its claim and its execution hang from it.
    expect(parentOf(claim)).toBe(idOf(start));
    expect(claim!.attributes).toMatchObject({ 'baton.run_id': runId, 'baton.queue': queue });
    expect(parentOf(run)).toBe(idOf(start));
    expect(run!.attributes).toMatchObject({ 'baton.run_id': runId, 'baton.worker_id': worker.workerId });
    expect(parentOf(one)).toBe(idOf(run));
    expect(parentOf(two)).toBe(idOf(run));
    expect(parentOf(named(spans, 'app.inside-step')[0])).toBe(idOf(two));
    expect(parentOf(complete)).toBe(idOf(run));
    // The completion call itself, sent alone, is served in the trace too.
    const [served] = named(spans, 'baton.api WorkerService/CompleteWorkflow');
    expect(parentOf(served)).toBe(idOf(complete));
    for (const span of [start, api, claim, run, one, two, complete]) {
      expect(span?.status.code).not.toBe(SpanStatusCode.ERROR);
    }
    // Nothing of the worker's own traffic (polls, heartbeats) joined the caller's trace.
    expect(spans.filter((s) => /PollTask|Heartbeat/.test(s.name))).toEqual([]);
  });

  test('the trace survives replay: worker A runs step one and is stopped, worker B replays and finishes', async () => {
    const queue = h.unique();
    const executed: string[] = [];
    const handler = (name: string) => async (ctx: WorkflowContext) => {
      await ctx.step('one', () => executed.push(`${name}:one`));
      await ctx.step('two', async () => {
        executed.push(`${name}:two`);
        if (name === 'A') {
          reachedTwo.resolve();
          // Worker A is stopped here: the step ends with the stop, never completed.
          await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        }
      });
      return 'done';
    };
    const reachedTwo = deferred();
    const a = h.worker({ queue, shutdownGraceMs: 100 });
    a.register('replayed', handler('A'));
    await a.start();
    const client = h.client();
    const { runId, traceId } = await inSpan('test.replay', async (span) => {
      const run = await client.start('replayed', null, { queue });
      return { runId: run.id, traceId: span.spanContext().traceId };
    });
    await reachedTwo.promise;
    const aId = a.workerId;
    await a.stop();
    const b = h.worker({ queue });
    b.register('replayed', handler('B'));
    await b.start();
    await expect(client.result(runId)).resolves.toBe('done');
    // Step one ran once (on A); B replayed it from the history.
    expect(executed).toEqual(['A:one', 'A:two', 'B:two']);

    const spans = await spansOnce(traceId, { 'baton.run replayed': 2, 'baton.complete': 1 });
    const runs = named(spans, 'baton.run replayed');
    expect(runs.map((r) => r.attributes['baton.worker_id']).sort()).toEqual([aId, b.workerId].sort());
    const runOf = (worker: string | null) => runs.find((r) => r.attributes['baton.worker_id'] === worker);
    // Each execution hangs from the run's stored context (its start span), not from the other.
    const [start] = named(spans, 'baton.start replayed');
    for (const r of runs) expect(parentOf(r)).toBe(idOf(start));
    // A: step one, and step two cut short by the stop (ERROR, the exception recorded).
    const steps = spans.filter((s) => s.name.startsWith('baton.step '));
    const onA = steps.filter((s) => parentOf(s) === idOf(runOf(aId)));
    const onB = steps.filter((s) => parentOf(s) === idOf(runOf(b.workerId)));
    expect(onA.map((s) => s.name)).toEqual(['baton.step one', 'baton.step two']);
    const cut = onA[1]!;
    expect(cut.status.code).toBe(SpanStatusCode.ERROR);
    expect(cut.events.some((e) => e.name === 'exception')).toBe(true);
    // B: only what executed there (step one came from the history).
    expect(onB.map((s) => s.name)).toEqual(['baton.step two']);
    expect(parentOf(named(spans, 'baton.complete')[0])).toBe(idOf(runOf(b.workerId)));
    // Two claims of the one run (A's, then B's after the hand-back), both in its trace.
    expect(named(spans, 'baton.claim').length).toBeGreaterThanOrEqual(2);
  });

  test('a failing step and run are ERROR spans with the exception recorded', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('failing', async (ctx: WorkflowContext) => {
      await ctx.step(
        'boom',
        () => {
          throw new Error('card declined');
        },
        { retry: { maxAttempts: 1 } },
      );
    });
    await worker.start();
    const client = h.client();
    const { runId, traceId } = await inSpan('test.failing', async (span) => {
      const run = await client.start('failing', null, { queue, retry: { maxAttempts: 1 } });
      return { runId: run.id, traceId: span.spanContext().traceId };
    });
    await expect(client.result(runId)).rejects.toThrow(/card declined/);
    const spans = await spansOnce(traceId, { 'baton.run failing': 1 });
    for (const name of ['baton.step boom', 'baton.run failing']) {
      const [span] = named(spans, name);
      expect(span?.status).toMatchObject({ code: SpanStatusCode.ERROR });
      expect(span?.events.find((e) => e.name === 'exception')?.attributes?.['exception.message']).toMatch(
        /card declined/,
      );
    }
  });

  test('concurrent starts from different traces keep their own trace each, batched or not', async () => {
    const queue = h.unique();
    const client = h.client();
    // Started in one turn of the event loop: the first goes alone, the others together (StartMany).
    const started = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        inSpan(`test.concurrent-${i}`, async (span) => ({
          run: await client.start('never-run', { i }, { queue }),
          traceId: span.spanContext().traceId,
        })),
      ),
    );
    expect(new Set(started.map((s) => s.traceId)).size).toBe(4);
    // The batch call itself belongs to none of them (its span is a trace of its own).
    expect(named(exporter.getFinishedSpans(), 'baton.api WorkflowService/StartMany').length).toBeGreaterThan(0);
    for (const { run, traceId } of started) expect((await client.get(run.id)).traceId).toBe(traceId);
    // An explicit traceId stays what the run shows; its trace context is still the caller's.
    const explicit = await inSpan('test.explicit', () =>
      client.start('never-run', null, { queue, traceId: 'order-42' }),
    );
    expect((await client.get(explicit.id)).traceId).toBe('order-42');
  });

  test("over HTTP, the traceparent header puts the API span and the run in the caller's trace", async () => {
    const traceId = 'a1'.repeat(16);
    const callerSpanId = 'b2'.repeat(8);
    const res = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .set('traceparent', `00-${traceId}-${callerSpanId}-01`)
      .send({ workflowType: 'never-run', queue: h.unique() })
      .expect(201);
    expect(res.body.run.traceId).toBe(traceId);
    const route = 'baton.api POST /v1/namespaces/:namespace/workflows';
    const [api] = named(await spansOnce(traceId, { [route]: 1 }), route);
    expect(parentOf(api)).toBe(callerSpanId);
    expect(api!.attributes).toMatchObject({ 'http.request.method': 'POST', 'baton.namespace': 'default' });
    // A malformed header is ignored (W3C): the run gets the API span's trace instead, never an error.
    const bad = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .set('traceparent', 'not-a-traceparent')
      .send({ workflowType: 'never-run', queue: h.unique() })
      .expect(201);
    expect(bad.body.run.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(bad.body.run.traceId).not.toBe(traceId);
  });
});
