import type { Step, Task } from '@baton/proto';
import { WorkflowContext } from './context';
import { NonDeterminismError, NonRetryableError, StepFailedError } from './errors';
import { LeaseClock } from './lease';
import { encodePayload } from './payload';
import { replayHistories } from './replay';
import type { RecordedStep } from './replay';
import type { Transport } from './transport';

const LEASE_TOKEN = '9e8d7c6b-5a49-4382-9170-a1b2c3d4e5f6';

/** A step recorded as COMPLETED with `output`. */
const done = (seq: number, stepId: string, output: unknown, kind = 'FUNCTION'): Step => ({
  stepId,
  seq,
  kind,
  status: 'COMPLETED',
  output: encodePayload(output),
});

function later<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A context over `history` whose server answers each call from `answer` (a promise may hold it back). */
function contextWith(
  history: Step[],
  answer: (method: string, request: Record<string, unknown>) => unknown = () => ({}),
) {
  const calls: Array<{ method: string; request: Record<string, unknown> }> = [];
  const abandoned: unknown[] = [];
  const transport: Pick<Transport, 'call'> = {
    call: async <T>(_service: string, method: string, request: unknown) => {
      calls.push({ method, request: request as Record<string, unknown> });
      const reply = await answer(method, request as Record<string, unknown>);
      if (reply instanceof Error) throw reply;
      return reply as T;
    },
  };
  const task: Task = { runId: 'run-1', namespace: 'default', queue: 'q', workflowType: 'wf', history };
  const controller = new AbortController();
  const ctx: WorkflowContext = new WorkflowContext(
    task,
    {
      transport,
      lease: { namespace: 'default', runId: 'run-1', workerId: 'w', leaseEpoch: 1, leaseToken: LEASE_TOKEN },
      clock: new LeaseClock(),
      abandon: (err) => {
        abandoned.push(err);
        ctx.stop(err);
        controller.abort(err);
      },
    },
    controller.signal,
  );
  /** The steps recorded so far, as (step id, seq). */
  const recorded = () =>
    calls.flatMap(({ method, request }) => {
      if (method === 'CompleteStep') return [[request.stepId, request.seq]];
      const last = request.lastStep as { stepId: string; seq: number } | undefined;
      return last ? [[last.stepId, last.seq]] : [];
    });
  return { ctx, calls, recorded, abandoned };
}

describe('parallel steps', () => {
  test('positions are taken at call time, in call order, whatever order the bodies finish in', async () => {
    const { ctx, recorded } = contextWith([]);
    // A record still waiting when the steps are called: each step awaits it before its body runs.
    await ctx.step('first', () => 0);
    const gates = { a: later(), b: later(), c: later() };
    const all = Promise.all(
      (['a', 'b', 'c'] as const).map((id) =>
        ctx.step(id, async () => {
          await gates[id].promise;
          return id.toUpperCase();
        }),
      ),
    );
    gates.c.resolve();
    await turn();
    gates.a.resolve();
    await turn();
    gates.b.resolve();
    await expect(all).resolves.toEqual(['A', 'B', 'C']);
    const last = await ctx.takeUnsentStep();
    expect([...recorded(), [last?.stepId, last?.seq]]).toEqual([
      ['first', 0],
      ['c', 3],
      ['a', 1],
      ['b', 2],
    ]);
  });

  test('a step takes its position when called, before anything called after it', async () => {
    const { ctx, recorded } = contextWith([]);
    const a = ctx.step('a', () => 1);
    const s = ctx.sleep('nap', 0); // zero: a no-op, takes no position
    expect(ctx.patched('x')).toBe(true);
    await Promise.all([a, s]);
    const last = await ctx.takeUnsentStep();
    expect([...recorded(), [last?.stepId, last?.seq]].sort()).toEqual([
      ['a', 0],
      ['patch:x', 1],
    ]);
  });

  test('one after another, each record goes with the next call and the last with the completion', async () => {
    const { ctx, calls } = contextWith([]);
    await ctx.step('a', () => 1);
    await ctx.step('b', async () => {
      await turn(); // a turn passes while b runs: a's record is on its way alone
      return 2;
    });
    await ctx.step('c', () => 3);
    const last = await ctx.takeUnsentStep();
    expect(calls.map((c) => c.request.stepId)).toEqual(['a', 'b']);
    expect(last?.stepId).toBe('c');
  });

  test('every record of steps finished together is sent, one of them with the completion', async () => {
    const { ctx, calls } = contextWith([]);
    await Promise.all([ctx.step('a', () => 1), ctx.step('b', () => 2), ctx.step('c', () => 3)]);
    const last = await ctx.takeUnsentStep();
    const sent = calls.filter((c) => c.method === 'CompleteStep').map((c) => c.request.stepId);
    expect([...sent, last?.stepId].sort()).toEqual(['a', 'b', 'c']);
  });

  test('a step called later waits for every record of the steps completed before it', async () => {
    const gate = later<object>();
    const { ctx, calls } = contextWith([], (method) => (method === 'CompleteStep' ? gate.promise : {}));
    await Promise.all([ctx.step('a', () => 1), ctx.step('b', () => 2)]);
    let ran = false;
    const next = ctx.step('c', () => (ran = true));
    await turn();
    expect(ran).toBe(false);
    expect(calls.map((c) => c.request.stepId).sort()).toEqual(['a', 'b']);
    gate.resolve({});
    await next;
    expect(ran).toBe(true);
  });

  test('a step that completes while a sibling parks the run is not sent: it runs again on replay', async () => {
    const failStep = later<object>();
    const { ctx, calls, abandoned } = contextWith([], (method) =>
      method === 'FailStep' ? failStep.promise : new Error(`no ${method} expected`),
    );
    const slow = later();
    const a = ctx.step('a', () => {
      throw new Error('flaky');
    });
    const b = ctx.step('b', async () => {
      await slow.promise;
      return 'b';
    });
    while (!calls.some((c) => c.method === 'FailStep')) await turn();
    slow.resolve(); // b completes while FailStep is on its way
    await turn();
    failStep.resolve({ willRetry: true, retryAtMs: Date.now() + 1_000 });
    await expect(a).rejects.toThrow(/suspended/);
    await b; // its value came back; its record waited for the park and was dropped
    expect(await ctx.takeUnsentStep()).toBeNull();
    await turn();
    expect(calls.map((c) => c.method)).toEqual(['FailStep']);
    expect(abandoned).toEqual([]);
    await expect(ctx.step('c', () => 1)).rejects.toThrow(/suspended/);
  });

  test('replay with a gap: recorded steps answer from history, only the one never completed runs', async () => {
    const { ctx } = contextWith([done(0, 'a', 'A'), done(2, 'c', 'C')]);
    const ran: string[] = [];
    const run = (id: string) => ctx.step(id, () => (ran.push(id), `${id}!`));
    await expect(Promise.all([run('a'), run('b'), run('c')])).resolves.toEqual(['A', 'b!', 'C']);
    expect(ran).toEqual(['b']);
    expect(ctx.historyLeftOver()).toBeNull();
  });

  test('a recorded step never asked for is found by id, even behind a gap', async () => {
    const { ctx } = contextWith([done(0, 'a', 1), done(2, 'c', 3)]);
    await Promise.all([ctx.step('a', () => 1), ctx.step('b', () => 2)]);
    const left = ctx.historyLeftOver();
    expect(left).toBeInstanceOf(NonDeterminismError);
    expect(left?.detail).toEqual({ position: 2, recorded: { stepId: 'c', kind: 'FUNCTION' }, requested: null });
  });

  test('ctx.all returns outputs by step id and throws the first failure in key order once all settled', async () => {
    const { ctx } = contextWith([], (method) => (method === 'FailStep' ? { willRetry: false } : {}));
    await expect(ctx.all({ x: () => 1, y: async () => ({ ok: true }) })).resolves.toEqual({ x: 1, y: { ok: true } });

    const slow = later();
    let zDone = false;
    const all = ctx
      .all({
        p: async () => {
          await slow.promise;
          throw new Error('p failed');
        },
        q: () => {
          throw new Error('q failed');
        },
        z: async () => {
          await turn();
          zDone = true;
          return 'z';
        },
      })
      .catch((e: unknown) => e);
    await turn();
    await turn();
    slow.resolve(); // q failed first in time; p is first in key order
    const err = await all;
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as StepFailedError).stepId).toBe('p');
    expect(zDone).toBe(true);
  });

  test('ctx.all rejects at once when a step parks the run', async () => {
    const { ctx } = contextWith([], (method) => (method === 'FailStep' ? { willRetry: true, retryAtMs: 1 } : {}));
    const never = later();
    const all = ctx.all({
      a: () => {
        throw new Error('flaky');
      },
      b: () => never.promise,
    });
    await expect(all).rejects.toThrow(/suspended/);
  });
});

describe('ctx.patched', () => {
  test('a new execution takes the patch: the marker is recorded with the next call', async () => {
    const { ctx, recorded } = contextWith([]);
    await ctx.step('a', () => 1);
    expect(ctx.patched('x')).toBe(true);
    expect(ctx.patched('x')).toBe(true); // the same answer, nothing more recorded
    await ctx.step('new', () => 2);
    const last = await ctx.takeUnsentStep();
    expect([...recorded(), [last?.stepId, last?.seq]]).toEqual([
      ['a', 0],
      ['patch:x', 1],
      ['new', 2],
    ]);
    expect(last).toBeTruthy();
  });

  test('a run recorded before the patch takes the old path and keeps its positions', async () => {
    const { ctx } = contextWith([done(0, 'a', 1), done(1, 'b', 2)]);
    await ctx.step('a', () => 1);
    expect(ctx.patched('x')).toBe(false);
    await expect(ctx.step('b', () => 0)).resolves.toBe(2);
    expect(ctx.historyLeftOver()).toBeNull();
  });

  test('a run that recorded the marker takes the patch again on replay', async () => {
    const { ctx, calls } = contextWith([done(0, 'a', 1), done(1, 'patch:x', true), done(2, 'new', 5)]);
    await ctx.step('a', () => 1);
    expect(ctx.patched('x')).toBe(true);
    await expect(ctx.step('new', () => 0)).resolves.toBe(5);
    expect(await ctx.takeUnsentStep()).toBeNull();
    expect(calls).toEqual([]);
  });

  test('nothing recorded here but steps recorded further on (a step that was running beside it): old path', () => {
    const { ctx } = contextWith([done(1, 'b', 2)]);
    void ctx.step('a', () => 1);
    expect(ctx.patched('x')).toBe(false);
  });

  test('deprecatePatch consumes a recorded marker and records none', async () => {
    const withMarker = contextWith([done(0, 'patch:x', true), done(1, 'new', 5)]);
    withMarker.ctx.deprecatePatch('x');
    await expect(withMarker.ctx.step('new', () => 0)).resolves.toBe(5);
    const without = contextWith([done(0, 'new', 5)]);
    without.ctx.deprecatePatch('x');
    await expect(without.ctx.step('new', () => 0)).resolves.toBe(5);
  });

  test('the marker prefix is refused as a step id, and a patch id is checked', async () => {
    const { ctx } = contextWith([]);
    await expect(ctx.step('patch:mine', () => 1)).rejects.toBeInstanceOf(NonRetryableError);
    expect(() => ctx.patched('')).toThrow(NonRetryableError);
    expect(() => ctx.patched('x'.repeat(300))).toThrow(/at most 249 bytes/);
    expect(ctx.stepsCalled).toBe(0);
  });
});

describe('replayHistories', () => {
  const history = (steps: RecordedStep[], extra: object = {}) => ({
    runId: 'r1',
    workflowType: 'order',
    input: { n: 2 },
    steps,
    status: 'COMPLETED' as const,
    ...extra,
  });
  const step = (seq: number, stepId: string, output: unknown): RecordedStep => ({
    stepId,
    seq,
    kind: 'FUNCTION',
    status: 'COMPLETED',
    output,
    final: false,
  });

  test('answers recorded outputs without running any body, and finds where the code changed', async () => {
    const bodies: string[] = [];
    const v1 = async (ctx: WorkflowContext, input: { n: number }) => {
      const a = await ctx.step('a', () => (bodies.push('a'), input.n));
      const b = await ctx.step('b', () => (bodies.push('b'), a * 10));
      return b;
    };
    const v2 = async (ctx: WorkflowContext) => {
      await ctx.step('a', () => bodies.push('a'));
      await ctx.step('inserted', () => bodies.push('inserted'));
    };
    const recorded = [history([step(0, 'a', 2), step(1, 'b', 20)])];
    await expect(replayHistories({ workflows: { order: v1 }, histories: recorded })).resolves.toMatchObject({
      ok: true,
      results: [{ runId: 'r1', ok: true, ended: 'returned', finding: null }],
    });
    const report = await replayHistories({ workflows: { order: v2 }, histories: recorded });
    expect(report.ok).toBe(false);
    expect(report.failures[0]).toMatchObject({
      runId: 'r1',
      finding: {
        position: 1,
        recorded: { stepId: 'b', kind: 'FUNCTION' },
        requested: { stepId: 'inserted', kind: 'FUNCTION' },
      },
    });
    expect(bodies).toEqual([]);
  });

  test('stops where the history ends: a run in flight is fine, and no body past it runs', async () => {
    let ran = false;
    const wf = async (ctx: WorkflowContext) => {
      await ctx.all({ a: () => 1, b: () => 2 });
      await ctx.step('c', () => (ran = true));
    };
    const report = await replayHistories({
      workflows: { order: wf },
      histories: [history([step(1, 'b', 2)], { status: 'RUNNING' })],
    });
    expect(report.results[0]).toMatchObject({ ok: true, ended: 'history-end' });
    expect(ran).toBe(false);
  });

  test('reports leftovers, a missing workflow type, and a throw the recorded run did not make', async () => {
    const short = async (ctx: WorkflowContext) => ctx.step('a', () => 0);
    const throws = async (ctx: WorkflowContext) => {
      await ctx.step('a', () => 0);
      throw new Error('new bug');
    };
    const recorded = [history([step(0, 'a', 1), step(1, 'b', 2)])];
    const left = await replayHistories({ workflows: { order: short }, histories: recorded });
    expect(left.failures[0]?.finding).toMatchObject({ position: 1, recorded: { stepId: 'b' }, requested: null });
    const missing = await replayHistories({ workflows: {}, histories: recorded });
    expect(missing.failures[0]).toMatchObject({ ended: 'not-run' });
    const threw = await replayHistories({ workflows: { order: throws }, histories: [history([step(0, 'a', 1)])] });
    expect(threw.failures[0]?.finding?.message).toMatch(/new bug/);
    const failedRun = [history([step(0, 'a', 1)], { status: 'FAILED' })];
    await expect(replayHistories({ workflows: { order: throws }, histories: failedRun })).resolves.toMatchObject({
      ok: true,
    });
  });
});
