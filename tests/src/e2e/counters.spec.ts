import { TestHarness, deferred, waitFor } from '../index';
import type { RunningApp } from '@baton/runtime';
import type { Client } from '@baton/sdk';
import { expectNoOwnerlessRunningRuns, trueQueueCounts } from '../harness/assertions';
import { corrections, installCorrectionAudit } from '../harness/audit';
import { startWatchdogReplica } from '../harness/replica';

type Counts = { pending: number; running: number; sleeping: number };

/** Starts `n` runs quickly: chunks of concurrent Start calls through the SDK client. */
async function burst(client: Client, n: number, queue: string, typeOf: (i: number) => string, chunk = 100) {
  const ids: string[] = [];
  for (let from = 0; from < n; from += chunk) {
    const started = await Promise.all(
      Array.from({ length: Math.min(chunk, n - from) }, (_, k) => client.start(typeOf(from + k), from + k, { queue })),
    );
    ids.push(...started.map((r) => r.id));
  }
  return ids;
}

/** The queue stats API against the truth, and the folded counter row alone once every delta is folded. */
async function expectCountersExact(h: TestHarness, client: Client, queue: string, expected: Counts) {
  expect(await trueQueueCounts(h, queue)).toEqual(expected);
  const stats = await client.queueStats(queue);
  expect({ pending: stats.pending, running: stats.running, sleeping: stats.sleeping }).toEqual(expected);
  const http = await h.http().get(`/v1/namespaces/default/queues/${queue}/stats`).expect(200);
  expect({ pending: http.body.pending, running: http.body.running, sleeping: http.body.sleeping }).toEqual(expected);
}

async function waitFolded(h: TestHarness, queue: string) {
  await waitFor(
    async () => (await h.query(`SELECT 1 FROM queue_counter_deltas WHERE task_queue = $1`, [queue])).length === 0,
    `the counter deltas of ${queue} to be folded`,
  );
  const [row] = await h.query(
    `SELECT pending::int, running::int, sleeping::int FROM queue_counters WHERE task_queue = $1`,
    [queue],
  );
  return row as Counts | undefined;
}

describe('11. Edge cases & stress: counters', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // The harness's watchdog folds counters every second but reconciles only at start-up:
    // any drift the triggers caused would stay visible.
    h = await TestHarness.start({ reconcileIntervalSecs: 3_600 });
  });

  afterAll(() => h?.stop());

  describe('11.3 database consistency', () => {
    test('workflow_counter_accurate_after_burst', async () => {
      const queue = h.unique();
      const client = h.client();
      const typeOf = (i: number) => (i % 10 < 4 ? 'done' : i % 10 < 7 ? 'nap' : 'hold');

      // 1,000 runs as fast as the client can start them; nothing claims them yet.
      const first = await burst(client, 1_000, queue, typeOf);
      expect(new Set(first).size).toBe(1_000);
      await expectCountersExact(h, client, queue, { pending: 1_000, running: 0, sleeping: 0 });

      // Workers complete some, park some asleep and hold some RUNNING, while another burst arrives.
      const gate = deferred();
      const fast = h.worker({ queue, maxConcurrent: 50 });
      fast.register('done', async () => 'ok');
      fast.register('nap', async (ctx) => {
        await ctx.sleep('nap', '1h');
        return 'unreachable';
      });
      const holder = h.worker({ queue, maxConcurrent: 40 });
      holder.register('hold', async () => {
        await gate.promise;
        return 'held';
      });
      await Promise.all([fast.start(), holder.start()]);
      const second = await burst(client, 500, queue, typeOf);
      expect(second).toHaveLength(500);

      // Quiescent: 600 done, 450 asleep, 40 held, the other 410 holds waiting.
      const settled = { pending: 410, running: 40, sleeping: 450 };
      await waitFor(
        async () => JSON.stringify(await trueQueueCounts(h, queue)) === JSON.stringify(settled),
        'the queue to settle',
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      const [done] = await h.query(
        `SELECT count(*)::int AS n FROM workflow_runs WHERE task_queue = $1 AND status = 'COMPLETED'`,
        [queue],
      );
      expect(done!.n).toBe(600);
      await expectCountersExact(h, client, queue, settled);
      // Folded into the counter row, the numbers are the same.
      expect(await waitFolded(h, queue)).toEqual(settled);

      // Release the holds: all 450 complete.
      gate.resolve();
      const afterHolds = { pending: 0, running: 0, sleeping: 450 };
      await waitFor(
        async () => JSON.stringify(await trueQueueCounts(h, queue)) === JSON.stringify(afterHolds),
        'the holds to complete',
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      await expectCountersExact(h, client, queue, afterHolds);
      expect(await waitFolded(h, queue)).toEqual(afterHolds);
      await expectNoOwnerlessRunningRuns(h, { queue });
    }, 120_000);

    test('counter_reconciliation_fixes_drift', async () => {
      const queue = h.unique();
      const ghost = h.unique('ghost');
      const client = h.client();
      await installCorrectionAudit(h);

      // A queue with runs in every live state: 5 PENDING, 3 SLEEPING, 2 RUNNING.
      const gate = deferred();
      let reconciler: RunningApp | undefined;
      const worker = h.worker({ queue });
      worker.register('nap', async (ctx) => {
        await ctx.sleep('nap', '1h');
        return 'unreachable';
      });
      worker.register('hold', async () => {
        await gate.promise;
        return 'held';
      });
      await worker.start();
      try {
        await burst(client, 5, queue, () => 'nobody-serves-this');
        await burst(client, 3, queue, () => 'nap');
        await burst(client, 2, queue, () => 'hold');
        const truth = { pending: 5, running: 2, sleeping: 3 };
        await waitFor(
          async () => JSON.stringify(await trueQueueCounts(h, queue)) === JSON.stringify(truth),
          'the queue to settle',
        );
        expect(await waitFolded(h, queue)).toEqual(truth);

        // Corrupt the counters. Nothing reconciles yet, so the damage shows through the API.
        await h.query(
          `UPDATE queue_counters SET pending = pending + 37, running = running - 5, sleeping = 999
           WHERE namespace = 'default' AND task_queue = $1`,
          [queue],
        );
        await h.query(
          `INSERT INTO queue_counters (namespace, task_queue, pending, running, sleeping) VALUES ('default', $1, 12, 3, 4)`,
          [ghost],
        );
        expect(await client.queueStats(queue)).toMatchObject({ pending: 42, running: -3, sleeping: 999 });
        expect(await client.queueStats(ghost)).toMatchObject({ pending: 12, running: 3, sleeping: 4 });

        // A watchdog that reconciles every second (its first pass runs at start-up).
        reconciler = await startWatchdogReplica(h, { reconcileIntervalMs: 1_000 });

        // The reconcile job heals both, with exactly one correction each.
        await waitFor(
          async () => {
            const [a, b] = [await client.queueStats(queue), await client.queueStats(ghost)];
            return (
              a.pending === 5 &&
              a.running === 2 &&
              a.sleeping === 3 &&
              b.pending === 0 &&
              b.running === 0 &&
              b.sleeping === 0
            );
          },
          'the counters to be reconciled',
          { timeoutMs: 10_000, intervalMs: 100 },
        );
        await expectCountersExact(h, client, queue, truth);
        expect(await corrections(h, queue)).toEqual([{ pending: -37, running: 5, sleeping: 3 - 999 }]);
        expect(await corrections(h, ghost)).toEqual([{ pending: -12, running: -3, sleeping: -4 }]);

        // Under live traffic reconciliation keeps running and never "repairs" counters that were right.
        const traffic = h.unique();
        const busy = h.worker({ queue: traffic, maxConcurrent: 30 });
        busy.register('step', async (ctx, i: number) => ctx.step('s', () => i));
        await busy.start();
        const ids = await burst(client, 300, traffic, () => 'step', 50);
        await waitFor(
          async () =>
            (await h.query(`SELECT 1 FROM workflow_runs WHERE id = ANY($1::uuid[]) AND status <> 'COMPLETED'`, [ids]))
              .length === 0,
          'the traffic to complete',
          { timeoutMs: 60_000, intervalMs: 200 },
        );
        await expectCountersExact(h, client, traffic, { pending: 0, running: 0, sleeping: 0 });
        expect(await corrections(h, traffic)).toEqual([]);
        expect(await corrections(h, queue)).toHaveLength(1);
        await expectNoOwnerlessRunningRuns(h, { queue: traffic });
      } finally {
        gate.resolve();
        await reconciler?.close();
      }
      await waitFor(async () => (await trueQueueCounts(h, queue)).running === 0, 'the holds to finish');
      await expectCountersExact(h, client, queue, { pending: 5, running: 0, sleeping: 3 });
      await expectNoOwnerlessRunningRuns(h, { queue });
    }, 120_000);
  });
});
