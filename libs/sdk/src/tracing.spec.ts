import { trace } from '@opentelemetry/api';
import { activeTraceparent, traceCompletion, traceRun, traceStart, traceStep } from './tracing';

/*
 * Without a tracer provider registered (the application brought none), the
 * SDK's tracing is inert: no traceparent is sent, and every wrapped piece of
 * work runs, returns and throws exactly as it would unwrapped. With one, see
 * tests/src/e2e/tracing.spec.ts.
 */
describe('SDK tracing with no tracer provider', () => {
  test('nothing is active and a start sends no traceparent', async () => {
    expect(activeTraceparent()).toBeUndefined();
    const sent: Array<string | undefined> = [];
    const res = await traceStart('ns', 'order', async (traceparent) => {
      sent.push(traceparent);
      return { run: { id: 'r1' } };
    });
    expect(res).toEqual({ run: { id: 'r1' } });
    expect(sent).toEqual([undefined]);
  });

  test('runs, steps and completions run their work as is, values and errors alike', async () => {
    let ran = false;
    await traceRun({ runId: 'r1', workflowType: 'order', traceparent: '' }, 'w1', async () => {
      ran = true;
    });
    expect(ran).toBe(true);
    await expect(traceStep('r1', 'charge', 0, () => 42)).resolves.toBe(42);
    await expect(
      traceStep('r1', 'charge', 0, () => {
        throw new Error('declined');
      }),
    ).rejects.toThrow('declined');
    await expect(traceCompletion('r1', async () => 'done')).resolves.toBe('done');
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});
