import type { BatonConfig } from '@baton/contracts';
import { RetentionRepository, Sql, createDataSource } from '@baton/persistence';
import type { RunningApp } from '@baton/runtime';
import { NonRetryableError } from '@baton/sdk';
import type { Client } from '@baton/sdk';
import { bootstrapWatchdog } from '@baton/watchdog';
import { TestHarness, deferred, waitFor } from '../index';
import { trueQueueCounts } from '../harness/assertions';
import { freePort } from '../harness/ports';

/*
 * Retention (BATON_RETENTION): the watchdog purges terminal runs that
 * finished longer ago than the retention, with every row that belongs to
 * them, and nothing else. The harness's retention is an hour (short next to
 * the 30-day default): runs are aged by moving their finished_at back, which
 * is all the purge compares against the database's now(). The replicas of
 * the last test use a ten-minute retention and purge on their own clock.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Every table that holds rows of a run: workflow_runs itself, each table with a foreign key to it, any `run_id` column. */
async function perRunTables(h: TestHarness): Promise<Array<{ table: string; column: string }>> {
  return h.query(
    `SELECT 'workflow_runs' AS table, 'id' AS column
     UNION
     SELECT c.conrelid::regclass::text, a.attname::text
     FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.contype = 'f' AND c.confrelid = 'workflow_runs'::regclass
     UNION
     SELECT table_name::text, column_name::text FROM information_schema.columns
     WHERE table_schema = current_schema() AND column_name = 'run_id'`,
  );
}

/** How many rows each per-run table holds for `ids`, as `table.column → n`. */
async function rowsOf(h: TestHarness, ids: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { table, column } of await perRunTables(h)) {
    const [row] = await h.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = ANY($1::uuid[])`,
      [ids],
    );
    counts[`${table}.${column}`] = row!.n;
  }
  return counts;
}

const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);

/** Moves the runs' finished_at (and, for live runs, their other times) `age` into the past. */
async function age(h: TestHarness, ids: string[], age: string): Promise<void> {
  await h.query(
    `UPDATE workflow_runs SET finished_at = now() - $2::interval, created_at = least(created_at, now() - $2::interval),
            started_at = least(started_at, now() - $2::interval)
     WHERE id = ANY($1::uuid[])`,
    [ids, age],
  );
}

async function waitPurged(h: TestHarness, ids: string[]): Promise<void> {
  await waitFor(
    async () => (await h.query(`SELECT 1 FROM workflow_runs WHERE id = ANY($1::uuid[])`, [ids])).length === 0,
    `${ids.length} runs to be purged`,
  );
}

/** baton_runs_purged_total as the watchdog on `port` serves it (0 before its first purge). */
async function purgedTotal(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  const match = /^baton_runs_purged_total(?:\{[^}]*\})? (\d+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

const runCount = async (h: TestHarness) =>
  (await h.query<{ n: number }>(`SELECT count(*)::int AS n FROM workflow_runs`))[0]!.n;

describe('retention', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({
      overrides: { retentionMs: HOUR, retentionIntervalMs: 200, retentionBatchSize: 50 },
    });
  });

  afterAll(() => h?.stop());

  /** A worker on `queue` for every kind of run these tests need; `hold` runs until `release` resolves. */
  async function serve(queue: string, release: Promise<void> = new Promise(() => undefined)) {
    const worker = h.worker({ queue, maxConcurrent: 50 });
    worker.register('stepped', async (ctx, i: number) => {
      const a = await ctx.step('a', async () => i);
      const b = await ctx.step('b', async () => a + 1);
      return { b };
    });
    worker.register('failing', async (ctx) => {
      await ctx.step('a', async () => 'ok');
      throw new NonRetryableError('refused');
    });
    worker.register('nap', async (ctx) => {
      await ctx.sleep('nap', '1h');
      return 'late';
    });
    worker.register('hold', async () => {
      await release;
      return 'held';
    });
    await worker.start();
    return worker;
  }

  /** One COMPLETED, one FAILED and one CANCELLED run, each with what it leaves behind (payloads, steps). */
  async function terminalRuns(client: Client, queue: string): Promise<string[]> {
    const completed = await client.start('stepped', 1, { queue });
    const failed = await client.start('failing', null, { queue });
    const cancelled = await client.start('unserved', 'input', { queue });
    await client.cancel(cancelled.id);
    await expect(client.result(completed.id)).resolves.toEqual({ b: 2 });
    await expect(client.result(failed.id)).rejects.toThrow('refused');
    return [completed.id, failed.id, cancelled.id];
  }

  test('terminal runs past retention go with every row of theirs; recent and live runs stay, however old', async () => {
    const queue = h.unique();
    const client = h.client();
    const release = deferred();
    await serve(queue, release.promise);
    try {
      const expired = await terminalRuns(client, queue);
      const recent = await terminalRuns(client, queue);
      const live = [
        (await client.start('unserved', null, { queue })).id,
        (await client.start('nap', null, { queue })).id,
        (await client.start('hold', null, { queue })).id,
      ];
      await waitFor(
        async () => JSON.stringify(await trueQueueCounts(h, queue)) === '{"pending":1,"running":1,"sleeping":1}',
        'one run PENDING, one RUNNING and one SLEEPING',
      );

      const before = {
        expired: await rowsOf(h, expired),
        recent: await rowsOf(h, recent),
        live: await rowsOf(h, live),
      };
      // The expired runs really had payloads and steps to lose.
      expect(before.expired).toMatchObject({ 'workflow_runs.id': 3, 'workflow_payloads.run_id': 3 });
      expect(before.expired['step_runs.run_id']).toBeGreaterThanOrEqual(3);

      await age(h, expired, '2 hours');
      // Within the retention, if only just.
      await age(h, recent, '50 minutes');
      // A year old and never finished: live runs are never purged, whatever their timestamps say.
      await age(h, live, '400 days');
      await waitPurged(h, expired);

      expect(total(await rowsOf(h, expired))).toBe(0);
      expect(await rowsOf(h, recent)).toEqual(before.recent);
      expect(await rowsOf(h, live)).toEqual(before.live);
      for (const id of expired) await expect(client.get(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await h.http().get(`/v1/namespaces/default/workflows/${expired[0]}`).expect(404);
      expect((await Promise.all(live.map((id) => client.get(id)))).map((r) => r.status)).toEqual([
        'PENDING',
        'SLEEPING',
        'RUNNING',
      ]);
      // Purging terminal runs moves no counter.
      expect(await client.queueStats(queue)).toMatchObject({ pending: 1, running: 1, sleeping: 1 });
      await waitFor(
        async () => (await purgedTotal(h.config.watchdogHealthPort)) === expired.length,
        'baton_runs_purged_total to count the three',
      );
    } finally {
      release.resolve();
    }
  });

  test("a purged run's external id starts a new run", async () => {
    const queue = h.unique();
    const client = h.client();
    await serve(queue);
    const externalId = h.unique('order');
    const first = await client.start('stepped', 1, { queue, externalId });
    await client.result(first.id);
    await age(h, [first.id], '2 hours');
    await waitPurged(h, [first.id]);

    const again = await client.start('stepped', 2, { queue, externalId });
    expect(again.alreadyExists).toBe(false);
    expect(again.id).not.toBe(first.id);
    await expect(client.result(again.id)).resolves.toEqual({ b: 3 });
    // While it is live, the key is taken: the idempotency rule is unchanged.
    const live = await client.start('unserved', null, { queue, externalId: `${externalId}-live` });
    expect((await client.start('unserved', null, { queue, externalId: `${externalId}-live` })).id).toBe(live.id);
  });

  test('a schedule never fires a purged fire time again', async () => {
    const queue = h.unique();
    const client = h.client();
    await serve(queue);
    const scheduleId = h.unique('every-second');
    await client.schedules.create({ scheduleId, workflowType: 'stepped', queue, cron: '* * * * * *', input: 1 });
    const firedRuns = async () =>
      h.query<{ id: string; fire_time: Date; status: string }>(
        `SELECT r.id, r.fire_time, r.status FROM workflow_runs r JOIN schedules s ON s.id = r.schedule_id
         WHERE s.namespace = 'default' AND s.schedule_id = $1 ORDER BY r.fire_time`,
        [scheduleId],
      );
    try {
      const done = await waitFor(async () => {
        const runs = (await firedRuns()).filter((r) => r.status === 'COMPLETED');
        return runs.length >= 3 ? runs : null;
      }, 'three fired runs completed');
      const purgedTimes = done.map((r) => r.fire_time.getTime());
      await age(
        h,
        done.map((r) => r.id),
        '2 hours',
      );
      await waitPurged(
        h,
        done.map((r) => r.id),
      );
      const lastPurged = Math.max(...purgedTimes);
      // The schedule goes on firing, only times after the purged ones, each once.
      const later = await waitFor(async () => {
        const runs = await firedRuns();
        return runs.filter((r) => r.fire_time.getTime() > lastPurged).length >= 2 ? runs : null;
      }, 'two more fires after the purge');
      const times = later.map((r) => r.fire_time.getTime());
      expect(new Set(times).size).toBe(times.length);
      expect(times.filter((t) => purgedTimes.includes(t))).toEqual([]);
    } finally {
      await client.schedules.delete(scheduleId);
    }
  });

  test('purgers racing on several replicas never fail and count each purged run once', async () => {
    const queue = h.unique();
    const n = 3_000;
    // Finished half an hour ago: inside the harness watchdog's hour, past the replicas' ten minutes.
    const ids = (
      await h.query<{ id: string }>(
        `WITH runs AS (
           INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, created_at, finished_at)
           SELECT gen_random_uuid(), 'default', $1, 'bulk', 'COMPLETED', now() - interval '31 minutes',
                  now() - interval '30 minutes'
           FROM generate_series(1, $2)
           RETURNING id
         ), payloads AS (
           INSERT INTO workflow_payloads (run_id, input, input_encoding, output, output_encoding)
           SELECT id, convert_to('{}', 'UTF8'), 'json', convert_to('1', 'UTF8'), 'json' FROM runs
         ), steps AS (
           INSERT INTO step_runs (run_id, step_id, seq, kind, status, output, output_encoding, finished_at)
           SELECT id, 'step-' || seq, seq, 'FUNCTION', 'COMPLETED', convert_to('1', 'UTF8'), 'json', now()
           FROM runs, generate_series(0, 2) AS seq
         )
         SELECT id FROM runs`,
        [queue, n],
      )
    ).map((r) => r.id);
    expect(ids).toHaveLength(n);

    const replicaPorts = [await freePort(), await freePort()];
    const ports = [h.config.watchdogHealthPort, ...replicaPorts];
    // The replicas start from zero.
    const countersBefore = [await purgedTotal(h.config.watchdogHealthPort), 0, 0];
    const runsBefore = await runCount(h);

    const retentionMs = 10 * MINUTE;
    const racing: Partial<BatonConfig> = { retentionMs, retentionIntervalMs: 50, retentionBatchSize: 7 };
    const replicas: RunningApp[] = [];
    // And purgers in this process, straight on the repository, with batches of their own size.
    const dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 4 });
    await dataSource.initialize();
    const repository = new RetentionRepository(new Sql(dataSource));
    try {
      const started = await Promise.allSettled(
        replicaPorts.map((port) => bootstrapWatchdog({ ...h.config, watchdogHealthPort: port, ...racing })),
      );
      for (const s of started) if (s.status === 'fulfilled') replicas.push(s.value);
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const direct = await Promise.all(
        Array.from({ length: 4 }, async () => {
          let purged = 0;
          for (;;) {
            const k = await repository.purgeExpiredRuns(retentionMs, 5);
            purged += k;
            if (k === 0) return purged;
          }
        }),
      );
      await waitPurged(h, ids);
      expect(total(await rowsOf(h, ids))).toBe(0);

      // The counters of all three watchdogs plus what the direct purgers deleted: every removed run, once.
      const removed = async () => runsBefore - (await runCount(h));
      const counted = async () => {
        const after = await Promise.all(ports.map(purgedTotal));
        return after.reduce((sum, v, i) => sum + v - countersBefore[i]!, 0) + direct.reduce((a, b) => a + b, 0);
      };
      await waitFor(async () => (await counted()) === (await removed()), 'the purged counters to add up');
      expect(await removed()).toBeGreaterThanOrEqual(n);
      // The replicas really raced: each purged some.
      const perReplica = await Promise.all(replicaPorts.map(purgedTotal));
      expect(perReplica.every((v) => v > 0)).toBe(true);
    } finally {
      await Promise.allSettled(replicas.map((r) => r.close()));
      await dataSource.destroy();
    }
  });
});
