import { TestHarness } from '../index';

describe('11. Edge cases & stress', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('11.1 boundary conditions', () => {
    test('workflow_with_zero_steps_completes', async () => {
      const queue = h.unique();
      let calls = 0;
      const worker = h.worker({ queue });
      worker.register('no-steps', async (_ctx, input: { a: number; b: number }) => {
        calls++;
        return input.a + input.b;
      });
      worker.register('nothing-at-all', async () => undefined);
      await worker.start();

      const client = h.client();
      const run = await client.start('no-steps', { a: 2, b: 3 }, { queue });
      await expect(client.result(run.id)).resolves.toBe(5);
      // A workflow with neither input nor output nor steps completes too.
      const empty = await client.start('nothing-at-all', undefined, { queue });
      await expect(client.result(empty.id)).resolves.toBeUndefined();

      for (const id of [run.id, empty.id]) {
        const stored = await client.get(id);
        expect(stored).toMatchObject({ status: 'COMPLETED', attempt: 1, claims: 1, error: null });
        expect(stored.finishedAt).toBeInstanceOf(Date);
        await expect(client.steps(id)).resolves.toEqual([]);
        expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [id])).toHaveLength(0);
      }
      expect(calls).toBe(1);
    });

    test('workflow_with_100_steps_completes', async () => {
      const queue = h.unique();
      const executions = new Array<number>(100).fill(0);
      let lastStepFailures = 0;
      const worker = h.worker({ queue });
      worker.register('hundred', async (ctx, input: { start: number }) => {
        let total = input.start;
        for (let i = 0; i < 100; i++) {
          // Each step depends on the previous one's result, so order and outputs both matter.
          total = await ctx.step(
            `step-${i}`,
            () => {
              executions[i]!++;
              // The last step fails once: the replay must come back through 99 recorded steps.
              if (i === 99 && ++lastStepFailures === 1) throw new Error('transient');
              return total + i;
            },
            { retry: { maxAttempts: 2, initialIntervalMs: 100 } },
          );
        }
        return total;
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('hundred', { start: 1000 }, { queue });
      const expected = 1000 + (99 * 100) / 2;
      await expect(client.result(run.id)).resolves.toBe(expected);

      // Every body ran once, except the last, which failed once and ran again on the replay.
      expect(executions.slice(0, 99).every((n) => n === 1)).toBe(true);
      expect(executions[99]).toBe(2);

      const steps = await client.steps(run.id);
      expect(steps).toHaveLength(100);
      let running = 1000;
      steps.forEach((step, i) => {
        running += i;
        expect({ stepId: step.stepId, seq: step.seq, status: step.status, output: step.output }).toEqual({
          stepId: `step-${i}`,
          seq: i,
          status: 'COMPLETED',
          output: running,
        });
      });
      const [counts] = await h.query(
        `SELECT count(*)::int AS n, count(DISTINCT seq)::int AS seqs FROM step_runs WHERE run_id = $1 AND status = 'COMPLETED'`,
        [run.id],
      );
      expect(counts).toEqual({ n: 100, seqs: 100 });
      expect(await client.get(run.id)).toMatchObject({ status: 'COMPLETED', claims: 2 });
    });
  });
});
