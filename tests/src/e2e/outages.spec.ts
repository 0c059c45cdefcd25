import type { Worker } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';
import { startWatchdogReplica } from '../harness/replica';
import { SilentWorker } from '../harness/silent-worker';

const STALE_MS = 2_000;
const LEASE_MS = 2_000;

/**
 * Invariant 12: an outage is not a dead worker. While the database or the
 * frontend is away nobody can heartbeat, so when it comes back every live
 * worker looks silent and every lease looks expired. The watchdog must give
 * workers a fair chance to speak before it judges them; a worker that really
 * is silent (the control) must still be judged, which proves the watchdog ran.
 */
describe('outages are not failures', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({
      databaseThroughProxy: true,
      workerStaleThresholdSecs: STALE_MS / 1000,
      leaseDurationSecs: LEASE_MS / 1000,
      heartbeatIntervalSecs: 0.25,
    });
  });

  afterAll(() => h?.stop());

  /** A worker whose runs record step "before", then wait for `gate`, then record "after". */
  function gatedWorker(queue: string, gate: Promise<void>, bodies: string[]): Worker {
    const worker = h.worker({ queue });
    worker.register('held', async (ctx, i: number) => {
      await ctx.step('before', async () => {
        bodies.push(`before-${i}`);
        return i;
      });
      await gate;
      return ctx.step('after', async () => {
        bodies.push(`after-${i}`);
        return i * 2;
      });
    });
    return worker;
  }

  async function runRows(ids: string[]) {
    return h.query(
      `SELECT id, status, attempt, recoveries, claims, lease_epoch, locked_by, delivered
       FROM workflow_runs WHERE id = ANY($1::uuid[]) ORDER BY id`,
      [ids],
    );
  }

  async function workerStatus(id: string): Promise<string> {
    const [row] = await h.query(`SELECT status FROM workers WHERE id = $1`, [id]);
    return row!.status;
  }

  /** Runs held mid-way (first step recorded, delivered lease), their worker, and a silent control worker. */
  async function holdRuns(queue: string) {
    const gate = deferred<void>();
    const bodies: string[] = [];
    const worker = gatedWorker(queue, gate.promise, bodies);
    await worker.start();
    const client = h.client();
    const runs = await Promise.all([0, 1, 2].map((i) => client.start('held', i, { queue, retry: { maxAttempts: 1 } })));
    const ids = runs.map((r) => r.id);
    await waitFor(
      async () =>
        (
          await h.query(
            `SELECT count(*)::int AS n FROM workflow_runs r
             WHERE r.id = ANY($1::uuid[]) AND r.status = 'RUNNING' AND r.delivered
               AND EXISTS (SELECT 1 FROM step_runs s WHERE s.run_id = r.id AND s.step_id = 'before' AND s.status = 'COMPLETED')`,
            [ids],
          )
        )[0]!.n === ids.length,
      'every run holding a delivered lease with its first step recorded',
    );
    const control = await SilentWorker.register(h, { queue: h.unique(), workflowTypes: ['held'] });
    return { gate, bodies, worker, client, ids, control, before: await runRows(ids) };
  }

  /** Both the live worker's heartbeat and every lease are older than the thresholds: only an outage explains it. */
  async function waitPastThresholds(workerId: string, ids: string[]): Promise<void> {
    await waitFor(
      async () => {
        const [row] = await h.query(
          `SELECT (SELECT last_heartbeat_at < now() - $2::bigint * interval '1 millisecond' FROM workers WHERE id = $1)
                  AND (SELECT bool_and(locked_until < now()) FROM workflow_runs WHERE id = ANY($3::uuid[])) AS past`,
          [workerId, STALE_MS + 500, ids],
        );
        return row!.past === true;
      },
      'the live worker silent past the stale threshold and its leases expired',
      { timeoutMs: 20_000 },
    );
  }

  async function expectNothingMoved(held: Awaited<ReturnType<typeof holdRuns>>, workerId: string): Promise<void> {
    // The control, silent since before the outage, is judged stale: the watchdog is running and judging…
    await waitFor(
      async () => (await workerStatus(held.control.id)) === 'OFFLINE',
      'the silent control worker OFFLINE',
      {
        timeoutMs: 20_000,
      },
    );
    // … and yet the live worker is ONLINE and its runs are exactly as they were: same lease, nothing spent.
    expect(await workerStatus(workerId)).toBe('ONLINE');
    expect(await runRows(held.ids)).toEqual(held.before);
    for (const row of held.before)
      expect(row).toMatchObject({ status: 'RUNNING', attempt: 1, recoveries: 0, claims: 1 });

    held.gate.resolve();
    const results = await Promise.all(held.ids.map((id) => held.client.result(id)));
    expect(results).toEqual([0, 2, 4]);
    for (const row of await runRows(held.ids)) {
      expect(row).toMatchObject({ status: 'COMPLETED', attempt: 1, recoveries: 0, claims: 1 });
    }
    // Every step body ran exactly once.
    expect([...held.bodies].sort()).toEqual(['after-0', 'after-1', 'after-2', 'before-0', 'before-1', 'before-2']);
  }

  test('a frontend cut off from the database while the watchdog reaches it marks no live worker stale', async () => {
    const queue = h.unique();
    const held = await holdRuns(queue);
    const workerId = held.worker.workerId!;
    const proxy = h.databaseProxy!;
    // The watchdog keeps its own way to PostgreSQL: it judges all through the outage, while no
    // heartbeat can be recorded.
    await h.stopApp('watchdog');
    const watchdog = await startWatchdogReplica(h, { databaseUrl: h.directDatabaseUrl });
    try {
      proxy.cut();
      try {
        await waitPastThresholds(workerId, held.ids);
      } finally {
        await proxy.restore();
      }
      await expectNothingMoved(held, workerId);
    } finally {
      await watchdog.close();
      await h.startApp('watchdog');
    }
  });

  test('a database outage longer than the stale threshold marks no live worker stale and recovers nothing', async () => {
    const queue = h.unique();
    const held = await holdRuns(queue);
    const workerId = held.worker.workerId!;
    const proxy = h.databaseProxy!;

    proxy.cut();
    try {
      await waitPastThresholds(workerId, held.ids);
      expect(proxy.stats().cut).toBeGreaterThan(0);
    } finally {
      await proxy.restore();
    }
    await expectNothingMoved(held, workerId);
  });

  test('a frontend outage longer than the stale threshold marks no live worker stale and recovers nothing', async () => {
    const queue = h.unique();
    const held = await holdRuns(queue);
    const workerId = held.worker.workerId!;

    await h.stopApp('frontend');
    try {
      await waitPastThresholds(workerId, held.ids);
    } finally {
      await h.startApp('frontend');
    }
    await expectNothingMoved(held, workerId);
  });
});
