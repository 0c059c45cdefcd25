import { TestHarness, waitFor } from '../index';
import { claimsOf, installClaimAudit } from '../harness/claim-audit';

describe('11. Edge cases & stress', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // A hundred SDK workers share this process's event loop with the four apps: heartbeats every second,
    // and a stale threshold and lease that tolerate the loop being busy for a few seconds.
    h = await TestHarness.start({
      heartbeatIntervalSecs: 1,
      workerStaleThresholdSecs: 10,
      leaseDurationSecs: 15,
      // A hundred workers and hundreds of concurrent calls share each service's six connections: on a
      // busy machine a call may wait longer than the default 5 s for one, which is load, not what these
      // tests are about (an outage's UNAVAILABLE is tested in outages.spec).
      overrides: { dbConnectTimeoutMs: 30_000 },
    });
    await installClaimAudit(h);
  });

  afterAll(() => h?.stop());

  describe('11.2 stress & load', () => {
    test('100_workers_polling_same_queue', async () => {
      const queue = h.unique();
      const WORKERS = 100;
      const RUNS = 500;
      const executions = new Map<string, number>();
      const perWorker = new Array<number>(WORKERS).fill(0);
      const workers = Array.from({ length: WORKERS }, (_, i) => {
        const worker = h.worker({ queue, maxConcurrent: 2, maxConcurrentPolls: 1 });
        worker.register('job', async (ctx, input: number) => {
          executions.set(ctx.runId, (executions.get(ctx.runId) ?? 0) + 1);
          perWorker[i]!++;
          return input * 2;
        });
        return worker;
      });
      await Promise.all(workers.map((w) => w.start()));
      const ids = new Set(workers.map((w) => w.workerId));
      expect(ids.size).toBe(WORKERS);
      await waitFor(
        async () =>
          (
            await h.query(`SELECT count(*)::int AS n FROM workers WHERE task_queue = $1 AND status = 'ONLINE'`, [queue])
          )[0]!.n === WORKERS,
        'all workers to be registered',
      );

      const client = h.client();
      const began = Date.now();
      const started: string[] = [];
      for (let wave = 0; wave < 5; wave++) {
        const batch = await Promise.all(
          Array.from({ length: RUNS / 5 }, (_, n) => client.start('job', wave * 1000 + n, { queue })),
        );
        started.push(...batch.map((s) => s.id));
      }
      const outputs = await Promise.all(started.map((id) => client.result<number>(id, { timeout: '100s' })));
      const elapsed = Date.now() - began;

      expect(outputs.length).toBe(RUNS);
      expect(executions.size).toBe(RUNS);
      expect([...executions.values()].every((n) => n === 1)).toBe(true);
      const [row] = await h.query(
        `SELECT count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
                count(*) FILTER (WHERE claims = 1 AND lease_epoch = 1 AND attempt = 1)::int AS once
         FROM workflow_runs WHERE task_queue = $1`,
        [queue],
      );
      expect(row).toEqual({ completed: RUNS, once: RUNS });
      const audit = await claimsOf(h, { runIds: started });
      expect(audit).toHaveLength(RUNS);
      expect(Math.max(...audit.map((c) => c.held))).toBeLessThanOrEqual(2);
      const busy = perWorker.filter((n) => n > 0).length;
      console.info(
        `100 workers: ${RUNS} runs in ${elapsed} ms (${Math.round((RUNS * 1000) / elapsed)}/s); ` +
          `${busy} workers took work, most ${Math.max(...perWorker)}, fewest ${Math.min(...perWorker)}`,
      );
      // Every worker had a poll waiting the whole time: work spreads over most of them.
      expect(busy).toBeGreaterThanOrEqual(WORKERS / 2);
    }, 120_000);
  });
});
