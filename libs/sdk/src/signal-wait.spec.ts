import type { Step, Task } from '@baton/proto';
import { Suspension, WorkflowContext } from './context';
import { LeaseClock } from './lease';
import { encodePayload } from './payload';
import type { Transport } from './transport';

const task = (history: Step[] = []): Task => ({
  runId: 'run-1',
  namespace: 'default',
  queue: 'q',
  workflowType: 'wf',
  attempt: 1,
  leaseEpoch: 1,
  leaseToken: '9e8d7c6b-5a49-4382-9170-a1b2c3d4e5f6',
  history,
});

/** A context over `history` whose server answers every call with `answer(method, request)`. */
function contextWith(history: Step[], answer: (method: string, request: Record<string, unknown>) => unknown) {
  const calls: Array<[string, Record<string, unknown>]> = [];
  const transport: Pick<Transport, 'call'> = {
    call: async <T>(_service: string, method: string, request: unknown) => {
      calls.push([method, request as Record<string, unknown>]);
      return answer(method, request as Record<string, unknown>) as T;
    },
  };
  const controller = new AbortController();
  const ctx = new WorkflowContext(
    task(history),
    {
      transport,
      lease: { namespace: 'default', runId: 'run-1', workerId: 'w', leaseEpoch: 1, leaseToken: 't' },
      clock: new LeaseClock(),
      abandon: (err) => controller.abort(err),
    },
    controller.signal,
  );
  return { ctx, calls };
}

const payloadOf = (value: unknown) => ({ suspended: false, payload: encodePayload(value) });

describe('ctx.waitForSignal', () => {
  test('default step ids count the waits per name; an explicit one is used as given', async () => {
    const { ctx, calls } = contextWith([], () => payloadOf('v'));
    await ctx.waitForSignal('a');
    await ctx.waitForSignal('b', { timeout: '2s' });
    await ctx.waitForSignal('a', { stepId: 'mine' });
    await ctx.waitForSignal('a', { timeout: 0 });
    expect(calls.map(([m, r]) => [m, r.stepId, r.seq, r.name, r.timeoutMs])).toEqual([
      ['WaitForSignal', 'signal:a#1', 0, 'a', undefined],
      ['WaitForSignal', 'signal:b#1', 1, 'b', 2000],
      ['WaitForSignal', 'mine', 2, 'a', undefined],
      ['WaitForSignal', 'signal:a#2', 3, 'a', 0],
    ]);
  });

  test('a completed wait replays from history without a call; one still waiting asks again', async () => {
    const history: Step[] = [
      { stepId: 'signal:go#1', seq: 0, kind: 'SIGNAL', status: 'COMPLETED', output: encodePayload({ n: 1 }) },
      { stepId: 'signal:go#2', seq: 1, kind: 'SIGNAL', status: 'COMPLETED' },
      { stepId: 'signal:go#3', seq: 2, kind: 'SIGNAL', status: 'RUNNING' },
    ];
    const { ctx, calls } = contextWith(history, () => payloadOf(3));
    await expect(ctx.waitForSignal('go')).resolves.toEqual({ n: 1 });
    // Timed out when recorded: null again, whatever was sent since.
    await expect(ctx.waitForSignal('go', { timeout: 10 })).resolves.toBeNull();
    await expect(ctx.waitForSignal('go')).resolves.toBe(3);
    expect(calls.map(([m, r]) => [m, r.stepId])).toEqual([['WaitForSignal', 'signal:go#3']]);
  });

  test('parked: the handler unwinds with a Suspension; timed out: null', async () => {
    const parked = contextWith([], () => ({ suspended: true }));
    const err = await parked.ctx.waitForSignal('go').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Suspension);
    expect(parked.ctx.suspended).toBe(err);

    const late = contextWith([], () => ({ suspended: false, timedOut: true }));
    await expect(late.ctx.waitForSignal('go', { timeout: 5 })).resolves.toBeNull();
  });

  test('the step completed just before travels with the wait', async () => {
    const { ctx, calls } = contextWith([], (method) => (method === 'WaitForSignal' ? payloadOf('ok') : {}));
    await ctx.step('before', () => 'done');
    await expect(ctx.waitForSignal('go')).resolves.toBe('ok');
    expect(calls).toHaveLength(1);
    expect(calls[0]![1].lastStep).toMatchObject({ stepId: 'before', seq: 0 });
  });

  test('a wait recorded as another kind is a replay mismatch', async () => {
    const history: Step[] = [{ stepId: 'signal:go#1', seq: 0, kind: 'FUNCTION', status: 'COMPLETED' }];
    const { ctx } = contextWith(history, () => payloadOf(1));
    await expect(ctx.waitForSignal('go')).rejects.toThrow(/replay mismatch/);
  });
});
