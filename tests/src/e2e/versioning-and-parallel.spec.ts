import { fetchHistories, replayHistories } from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';

/** A step retry policy that parks the run only briefly, so the replay follows at once. */
const QUICK_RETRY = { retry: { maxAttempts: 3, initialIntervalMs: 100 } };

/** Opens once `n` callers have arrived: bodies run one at a time would wait here forever. */
function barrier(n: number): () => Promise<void> {
  const open = deferred();
  let arrived = 0;
  return async () => {
    if (++arrived === n) open.resolve();
    await open.promise;
  };
}

interface StepRow {
  step_id: string;
  seq: number;
  kind: string;
  status: string;
  attempt: number;
}

describe('Parallel steps and versioning', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  const stepRows = (runId: string) =>
    h.query<StepRow>(`SELECT step_id, seq, kind, status, attempt FROM step_runs WHERE run_id = $1 ORDER BY seq`, [
      runId,
    ]);
  /** Each step as the API shows it (a SLEEP step reads COMPLETED once its wake time has passed). */
  const rowsOf = async (runId: string) => (await h.client().steps(runId)).map((s) => [s.stepId, s.seq, s.status]);
  const completed = async (runId: string, stepId: string) =>
    (await stepRows(runId)).some((r) => r.step_id === stepId && r.status === 'COMPLETED');
  const terminal = (runId: string) => async () => {
    const run = await h.client().get(runId);
    return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(run.status) ? run : null;
  };

  /** Worker errors that mention non-determinism (none may). */
  const nonDeterministic = (errors: unknown[]) =>
    errors.filter((e) => /NON_DETERMINISTIC|replay mismatch/.test(String(e)));

  describe('parallel steps', () => {
    test('parallel_steps_run_concurrently', async () => {
      const queue = h.unique();
      const worker = h.worker({ queue });
      worker.register('fan-out', async (ctx, input: { n: number }) => {
        const allThree = barrier(3);
        const viaPromiseAll = await Promise.all(
          ['a', 'b', 'c'].map((id, i) =>
            ctx.step(id, async () => {
              await allThree();
              return { id, value: input.n * (i + 1) };
            }),
          ),
        );
        const bothOfAll = barrier(2);
        const viaAll = await ctx.all({
          x: async () => {
            await bothOfAll();
            return 'X';
          },
          y: async () => {
            await bothOfAll();
            return { y: 42 };
          },
        });
        return { viaPromiseAll, viaAll };
      });
      await worker.start();

      const run = await h.client().start('fan-out', { n: 2 }, { queue });
      // One body at a time would wait at its barrier forever: this deadline would fail the test.
      const finished = await waitFor(terminal(run.id), 'the fan-out run to finish', { timeoutMs: 20_000 });
      expect(finished.status).toBe('COMPLETED');
      expect(finished.output).toEqual({
        viaPromiseAll: [
          { id: 'a', value: 2 },
          { id: 'b', value: 4 },
          { id: 'c', value: 6 },
        ],
        viaAll: { x: 'X', y: { y: 42 } },
      });
      // Each step checkpointed on its own, at the position it was called at.
      expect(await stepRows(run.id)).toEqual([
        { step_id: 'a', seq: 0, kind: 'FUNCTION', status: 'COMPLETED', attempt: 1 },
        { step_id: 'b', seq: 1, kind: 'FUNCTION', status: 'COMPLETED', attempt: 1 },
        { step_id: 'c', seq: 2, kind: 'FUNCTION', status: 'COMPLETED', attempt: 1 },
        { step_id: 'x', seq: 3, kind: 'FUNCTION', status: 'COMPLETED', attempt: 1 },
        { step_id: 'y', seq: 4, kind: 'FUNCTION', status: 'COMPLETED', attempt: 1 },
      ]);
      const steps = await h.client().steps(run.id);
      expect(steps.map((s) => s.output)).toEqual([
        { id: 'a', value: 2 },
        { id: 'b', value: 4 },
        { id: 'c', value: 6 },
        'X',
        { y: 42 },
      ]);
    });

    test('parallel_steps_replay_deterministically', async () => {
      const queue = h.unique();
      const gates = { a: deferred(), b: deferred(), c: deferred() };
      const bodies = { a: 0, b: 0, c: 0, after: 0 };
      const seen: unknown[] = [];
      const errors: unknown[] = [];
      const worker = h.worker({ queue, onError: (err) => errors.push(err) });
      worker.register('parallel-replay', async (ctx) => {
        const results = await Promise.all(
          (['a', 'b', 'c'] as const).map((id) =>
            ctx.step(id, async () => {
              bodies[id]++;
              await gates[id].promise;
              return `${id}-${bodies[id]}`;
            }),
          ),
        );
        seen.push(results);
        // Fails once with a retry: the run is parked and replayed from the top.
        await ctx.step(
          'after',
          () => {
            if (++bodies.after === 1) throw new Error('once');
            return 'after-ok';
          },
          QUICK_RETRY,
        );
        return results;
      });
      await worker.start();

      const run = await h.client().start('parallel-replay', undefined, { queue });
      await waitFor(() => bodies.a + bodies.b + bodies.c === 3, 'all three bodies to start');
      // They finish in the order c, a, b (not the call order), each checkpointed as it finishes.
      gates.c.resolve();
      await waitFor(() => completed(run.id, 'c'), 'c recorded while a and b still run');
      expect(await rowsOf(run.id)).toEqual([['c', 2, 'COMPLETED']]);
      gates.a.resolve();
      await waitFor(() => completed(run.id, 'a'), 'a recorded while b still runs');
      expect(await rowsOf(run.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['c', 2, 'COMPLETED'],
      ]);
      gates.b.resolve();

      const finished = await waitFor(terminal(run.id), 'the run to finish after its replay');
      expect(finished.status).toBe('COMPLETED');
      expect(finished.error).toBeNull();
      expect(finished.claims).toBe(2); // the first execution, and the replay after the retry
      // The replay got every parallel step from its record: no body ran again, outputs unchanged.
      expect(bodies).toEqual({ a: 1, b: 1, c: 1, after: 2 });
      expect(seen).toEqual([
        ['a-1', 'b-1', 'c-1'],
        ['a-1', 'b-1', 'c-1'],
      ]);
      expect(finished.output).toEqual(['a-1', 'b-1', 'c-1']);
      expect(await rowsOf(run.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['b', 1, 'COMPLETED'],
        ['c', 2, 'COMPLETED'],
        ['after', 3, 'COMPLETED'],
      ]);
      expect(nonDeterministic(errors)).toEqual([]);
    });

    test('parallel_step_retry_parks_run_and_a_sibling_still_running_runs_again', async () => {
      const queue = h.unique();
      const bodies = { a: 0, b: 0, c: 0 };
      const release = deferred();
      const executions: WorkflowContext[] = [];
      const errors: unknown[] = [];
      const worker = h.worker({ queue, onError: (err) => errors.push(err) });
      worker.register('parallel-retry', async (ctx) => {
        executions.push(ctx);
        return Promise.all([
          ctx.step('a', () => `a-${++bodies.a}`),
          // Fails at once in the first execution: the run is parked for the retry.
          ctx.step(
            'b',
            () => {
              if (++bodies.b === 1) throw new Error('flaky');
              return `b-${bodies.b}`;
            },
            QUICK_RETRY,
          ),
          // Still running when the run is parked: its result cannot be recorded.
          ctx.step('c', async () => {
            const n = ++bodies.c;
            await release.promise;
            return `c-${n}`;
          }),
        ]);
      });
      await worker.start();

      const run = await h.client().start('parallel-retry', undefined, { queue });
      // Once parked, the first execution's signal aborts: c's body may stop there.
      await waitFor(() => executions[0]?.signal.aborted, 'the first execution to be stopped by the park');
      expect(await completed(run.id, 'a')).toBe(true); // recorded before the park
      release.resolve();

      const finished = await waitFor(terminal(run.id), 'the run to finish after the retry');
      expect(finished.status).toBe('COMPLETED');
      expect(finished.error).toBeNull();
      // a completed before the park: never again. c never completed durably: it ran again.
      expect(bodies.a).toBe(1);
      expect(bodies.b).toBe(2);
      expect(bodies.c).toBe(2);
      expect(finished.output).toEqual(['a-1', 'b-2', 'c-2']);
      expect(await rowsOf(run.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['b', 1, 'COMPLETED'],
        ['c', 2, 'COMPLETED'],
      ]);
      // Nothing was reported: no record was refused for a lost lease, nothing failed.
      expect(errors).toEqual([]);
    });

    test('parallel_step_still_running_when_worker_stops_runs_again_alone', async () => {
      const queue = h.unique();
      const bodies = { a: 0, b: 0, c: 0 };
      const never = deferred();
      const handler = async (ctx: WorkflowContext) =>
        Promise.all(
          (['a', 'b', 'c'] as const).map((id) =>
            ctx.step(id, async () => {
              bodies[id]++;
              // b never finishes in the first execution: the worker stops with it in flight.
              if (id === 'b' && bodies.b === 1) await never.promise;
              return `${id}-${bodies[id]}`;
            }),
          ),
        );
      const first = h.worker({ queue, shutdownGraceMs: 200 });
      first.register('parallel-gap', handler);
      await first.start();
      const run = await h.client().start('parallel-gap', undefined, { queue });
      await waitFor(
        async () => (await completed(run.id, 'a')) && completed(run.id, 'c'),
        'a and c recorded, b still running',
      );
      await first.stop(); // hands the run back with a gap at b's position

      const errors: unknown[] = [];
      const second = h.worker({ queue, onError: (err) => errors.push(err) });
      second.register('parallel-gap', handler);
      await second.start();
      const finished = await waitFor(terminal(run.id), 'the run to finish on the second worker');
      expect(finished.status).toBe('COMPLETED');
      expect(finished.output).toEqual(['a-1', 'b-2', 'c-1']);
      // Only the step that never completed ran again.
      expect(bodies).toEqual({ a: 1, b: 2, c: 1 });
      expect(await rowsOf(run.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['b', 1, 'COMPLETED'],
        ['c', 2, 'COMPLETED'],
      ]);
      expect(nonDeterministic(errors)).toEqual([]);
    });
  });

  describe('versioning', () => {
    interface Input {
      sleepMs: number;
    }

    /** v1: a, b, a sleep, c. */
    const v1 = async (ctx: WorkflowContext, input: Input) => {
      await ctx.step('a', () => 'a');
      await ctx.step('b', () => 'b');
      await ctx.sleep('wait', input.sleepMs);
      await ctx.step('c', () => 'c');
      return { path: 'old' };
    };

    /** v2 with a new step before b, behind a patch: runs recorded by v1 keep their old path. */
    function v2Patched(record: boolean[] = []) {
      return async (ctx: WorkflowContext, input: Input) => {
        await ctx.step('a', () => 'a');
        const patched = ctx.patched('add-n');
        record.push(patched);
        if (patched) await ctx.step('n', () => 'n');
        await ctx.step('b', () => 'b');
        await ctx.sleep('wait', input.sleepMs);
        await ctx.step('c', () => 'c');
        return { path: patched ? 'new' : 'old' };
      };
    }

    test('patched_lets_old_runs_replay', async () => {
      const queue = h.unique();
      const client = h.client();
      const old = h.worker({ queue });
      old.register('versioned', v1);
      await old.start();
      const oldRun = await client.start('versioned', { sleepMs: 2_000 }, { queue });
      await waitFor(async () => (await client.get(oldRun.id)).status === 'SLEEPING', 'the v1 run to sleep');
      await old.stop();
      expect(await rowsOf(oldRun.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['b', 1, 'COMPLETED'],
        ['wait', 2, 'RUNNING'],
      ]);

      // The deploy: v2 on a new worker, same type and queue.
      const answers: boolean[] = [];
      const errors: unknown[] = [];
      const current = h.worker({ queue, onError: (err) => errors.push(err) });
      current.register('versioned', v2Patched(answers));
      await current.start();

      // The old run wakes on v2 and replays its v1 history: patched says false there, no position taken.
      const oldDone = await waitFor(terminal(oldRun.id), 'the v1 run to finish on v2');
      expect(oldDone.status).toBe('COMPLETED');
      expect(oldDone.output).toEqual({ path: 'old' });
      expect(answers).toEqual([false]);
      expect(await rowsOf(oldRun.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['b', 1, 'COMPLETED'],
        ['wait', 2, 'COMPLETED'],
        ['c', 3, 'COMPLETED'],
      ]);

      // A new run takes the new path and records the patch's marker where it decided.
      const newRun = await client.start('versioned', { sleepMs: 50 }, { queue });
      await expect(client.result(newRun.id)).resolves.toEqual({ path: 'new' });
      expect(answers.at(-1)).toBe(true);
      expect(await rowsOf(newRun.id)).toEqual([
        ['a', 0, 'COMPLETED'],
        ['patch:add-n', 1, 'COMPLETED'],
        ['n', 2, 'COMPLETED'],
        ['b', 3, 'COMPLETED'],
        ['wait', 4, 'COMPLETED'],
        ['c', 5, 'COMPLETED'],
      ]);
      const marker = (await client.steps(newRun.id)).find((s) => s.stepId === 'patch:add-n');
      expect(marker).toMatchObject({ kind: 'FUNCTION', output: true });
      // Its replays (after the sleep) answered true again from the marker: the new path all along.
      expect(answers.slice(1).every((a) => a)).toBe(true);
      expect(nonDeterministic(errors)).toEqual([]);
    });

    test('replay_check_reports_nondeterminism', async () => {
      const queue = h.unique();
      const type = 'versioned-check';
      const client = h.client();
      const recorder = h.worker({ queue });
      recorder.register(type, v1);
      await recorder.start();
      // Histories recorded by v1: one finished run, one in flight (asleep for a minute).
      const done = await client.start(type, { sleepMs: 0 }, { queue });
      await expect(client.result(done.id)).resolves.toEqual({ path: 'old' });
      const inFlight = await client.start(type, { sleepMs: 60_000 }, { queue });
      await waitFor(async () => (await client.get(inFlight.id)).status === 'SLEEPING', 'the second run to sleep');

      const histories = await fetchHistories(client, { workflowType: type });
      expect(histories.map((hist) => hist.runId).sort()).toEqual([done.id, inFlight.id].sort());
      const runIds = (results: Array<{ runId: string }>) => results.map((r) => r.runId).sort();

      // The code they were recorded with replays them.
      const same = await replayHistories({ workflows: { [type]: v1 }, histories });
      expect(same.ok).toBe(true);

      // The same change as v2 without the patch (a step inserted before b): each run reported,
      // with the position and both steps; the check ran no step body.
      let bodies = 0;
      const unpatched = async (ctx: WorkflowContext, input: Input) => {
        await ctx.step('a', () => ++bodies);
        await ctx.step('n', () => ++bodies);
        await ctx.step('b', () => ++bodies);
        await ctx.sleep('wait', input.sleepMs);
        await ctx.step('c', () => ++bodies);
        return { path: 'new' };
      };
      const report = await replayHistories({ workflows: { [type]: unpatched }, histories });
      expect(report.ok).toBe(false);
      expect(runIds(report.failures)).toEqual([done.id, inFlight.id].sort());
      for (const failure of report.failures) {
        expect(failure.finding).toMatchObject({
          position: 1,
          recorded: { stepId: 'b', kind: 'FUNCTION' },
          requested: { stepId: 'n', kind: 'FUNCTION' },
        });
        expect(failure.finding!.message).toMatch(/replay mismatch at position 1/);
      }
      expect(bodies).toBe(0);

      // Steps in another order: reported too.
      const reordered = async (ctx: WorkflowContext) => {
        await ctx.step('b', () => 'b');
        await ctx.step('a', () => 'a');
      };
      const swapped = await replayHistories({ workflows: { [type]: reordered }, histories });
      expect(swapped.failures.map((f) => f.finding?.position)).toEqual([0, 0]);

      // The same change behind ctx.patched: compatible with both runs.
      const patched = await replayHistories({ workflows: { [type]: v2Patched() }, histories });
      expect(patched.failures).toEqual([]);
      expect(patched.ok).toBe(true);
      const byRun = new Map(patched.results.map((r) => [r.runId, r.ended]));
      expect(byRun.get(done.id)).toBe('returned');
      expect(byRun.get(inFlight.id)).toBe('history-end');

      await client.cancel(inFlight.id);
    });
  });
});
