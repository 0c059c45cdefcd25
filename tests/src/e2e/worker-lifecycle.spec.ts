import { bootstrapMatching } from '@baton/matching';
import { BatonError, ErrorCode, ErrorReason, Transport } from '@baton/sdk';
import type { Worker } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';
import { heldNow, installClaimAudit, peakHeld } from '../harness/claim-audit';
import { freePort } from '../harness/ports';
import { ProtocolWorker, pollAs } from '../harness/protocol-worker';
import type { PolledTask } from '../harness/protocol-worker';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Tracks how many handlers run at once, in total and per type. `filled(type, n)`
 * resolves once `n` handlers of `type` run at the same time: handlers that wait
 * on it hold their slots until the worker is provably using its full capacity.
 */
function concurrencyProbe() {
  const now: Record<string, number> = {};
  const peak: Record<string, number> = {};
  const barriers: Array<{ type: string; n: number; open: () => void }> = [];
  let total = 0;
  let peakTotal = 0;
  return {
    enter(type: string) {
      now[type] = (now[type] ?? 0) + 1;
      peak[type] = Math.max(peak[type] ?? 0, now[type]!);
      total++;
      peakTotal = Math.max(peakTotal, total);
      for (const b of barriers) if (b.type === type && now[type]! >= b.n) b.open();
    },
    leave(type: string) {
      now[type]!--;
      total--;
    },
    filled(type: string, n: number): Promise<void> {
      const gate = deferred();
      barriers.push({ type, n, open: gate.resolve });
      if ((now[type] ?? 0) >= n) gate.resolve();
      return gate.promise;
    },
    get peak() {
      return { total: peakTotal, byType: { ...peak } };
    },
  };
}

const work = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]);
  return row!;
}

async function workerRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workers WHERE id = $1`, [id]);
  return row!;
}

/**
 * Runs `n` polls at once; resolves with the tasks they returned (nulls dropped).
 * Polls past BATON_MAX_POLLS_PER_WORKER are refused outright (429), the rest answered.
 */
async function pollBurst(worker: ProtocolWorker, n: number, types?: string[]): Promise<PolledTask[]> {
  const outcomes = await Promise.all(Array.from({ length: n }, () => worker.poll({ types })));
  for (const o of outcomes) expect([200, 429]).toContain(o.status);
  return outcomes.flatMap((o) => (o.task ? [o.task] : []));
}

describe('1. Worker lifecycle', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // All four apps, the SDK workers and the test share one event loop: under a burst on a busy machine a
    // heartbeat can wait seconds for it. A 5 s stale threshold keeps these tests about distribution, not about
    // surviving CPU starvation (worker-health.spec covers staleness).
    h = await TestHarness.start({ workerStaleThresholdSecs: 5 });
    await installClaimAudit(h);
  });

  afterAll(async () => {
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  describe('1.1 registration & deregistration', () => {
    test('worker_registration_returns_unique_id', async () => {
      const queue = h.unique();
      const other = h.unique();
      const raw = await Promise.all([
        ...Array.from({ length: 5 }, (_, i) =>
          ProtocolWorker.register(h, { queue, workflowTypes: ['a'], hostname: `host-${i}`, pid: 100 + i }),
        ),
        // Same hostname and pid, another queue: another worker.
        ProtocolWorker.register(h, { queue: other, workflowTypes: ['a'], hostname: 'host-0', pid: 100 }),
        // Same identity in another namespace.
        ProtocolWorker.register(h, {
          namespace: h.unique('ns'),
          queue,
          workflowTypes: ['a'],
          hostname: 'host-0',
          pid: 100,
        }),
      ]);
      const sdk = [h.worker({ queue }), h.worker({ queue })];
      for (const w of sdk) {
        w.register('a', async () => null);
        await w.start();
      }
      const ids = [...raw.map((w) => w.id), ...sdk.map((w) => w.workerId!)];
      for (const id of ids) expect(id).toMatch(UUID);
      expect(new Set(ids).size).toBe(ids.length);

      const rows = await h.query(`SELECT id, namespace, task_queue, status FROM workers WHERE id = ANY ($1::uuid[])`, [
        ids,
      ]);
      expect(rows).toHaveLength(ids.length);
      for (const row of rows) expect(row.status).toBe('ONLINE');
      const sdkInfo = (await h.client().workers({ queue })).filter((w) => sdk.some((s) => s.workerId === w.id));
      expect(sdkInfo.map((w) => w.queue)).toEqual([queue, queue]);
    });

    test('worker_reregistration_same_queue_updates_existing', async () => {
      const queue = h.unique();
      const identity = { queue, hostname: 'box-1', pid: 4242 };
      const first = await ProtocolWorker.register(h, { ...identity, workflowTypes: ['a'], maxConcurrent: 5 });
      const again = await ProtocolWorker.register(h, {
        ...identity,
        workflowTypes: ['a', 'b'],
        maxConcurrent: 7,
        typeConcurrency: { b: 2 },
      });
      expect(again.id).toBe(first.id);

      const rows = await h.query(`SELECT * FROM workers WHERE task_queue = $1 AND hostname = 'box-1' AND pid = 4242`, [
        queue,
      ]);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ id: first.id, status: 'ONLINE', max_concurrent: 7, type_concurrency: { b: 2 } });
      expect([...rows[0]!.workflow_types].sort()).toEqual(['a', 'b']);

      // The updated registration is what the server serves by: type b reaches the same id now.
      const run = await h.client().start('b', { n: 1 }, { queue });
      const task = await again.pollUntilTask();
      expect(task).toMatchObject({ runId: run.id, workflowType: 'b' });
      expect((await runRow(h, run.id)).locked_by).toBe(first.id);
      expect(await again.complete(task)).toBe(200);

      // Another pid is another worker; after deregistering, the same identity registers afresh.
      const sibling = await ProtocolWorker.register(h, { ...identity, pid: 4243, workflowTypes: ['a'] });
      expect(sibling.id).not.toBe(first.id);
      expect(await first.deregister()).toBe(200);
      const reborn = await ProtocolWorker.register(h, { ...identity, workflowTypes: ['a'] });
      expect(reborn.id).not.toBe(first.id);
      expect((await workerRow(h, first.id)).status).toBe('OFFLINE');
      expect((await workerRow(h, reborn.id)).status).toBe('ONLINE');
    });

    test('worker_deregistration_clears_from_pool', async () => {
      const queue = h.unique();
      const leaving = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const client = h.client();
      const held = await client.start('job', 1, { queue });
      const task = await leaving.pollUntilTask();
      expect(task.runId).toBe(held.id);

      expect(await leaving.deregister()).toBe(200);
      // Deregistering hands back what it held at once, not at lease expiry.
      const released = await runRow(h, held.id);
      expect(released).toMatchObject({ status: 'PENDING', locked_by: null, attempt: 1 });
      expect((await workerRow(h, leaving.id)).status).toBe('OFFLINE');
      // Its lease is void, and it can no longer poll.
      expect(await leaving.complete(task)).toBe(409);
      const refused = await leaving.poll();
      expect(refused.status).toBe(409);
      expect(refused.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: ErrorReason.WORKER_REREGISTER });

      // Work started after it left never reaches it: another worker does all of it.
      const later = await client.start('job', 2, { queue });
      const ranBy: string[] = [];
      const stayer = h.worker({ queue });
      stayer.register('job', async (ctx) => {
        ranBy.push(ctx.runId);
        return 'ok';
      });
      await stayer.start();
      await expect(client.result(held.id)).resolves.toBe('ok');
      await expect(client.result(later.id)).resolves.toBe('ok');
      expect(ranBy.sort()).toEqual([held.id, later.id].sort());
      const rows = await h.query(`SELECT id, claims FROM workflow_runs WHERE id = ANY ($1::uuid[])`, [
        [held.id, later.id],
      ]);
      expect(Object.fromEntries(rows.map((r) => [r.id, r.claims]))).toEqual({ [held.id]: 2, [later.id]: 1 });
      const listed = await client.workers({ queue });
      expect(listed.find((w) => w.id === leaving.id)?.status ?? 'OFFLINE').toBe('OFFLINE');
    });

    test('worker_drain_mode_completes_active_before_stopping', async () => {
      const queue = h.unique();
      const client = h.client();
      const gate = deferred();
      const started = deferred<string>();
      let executions = 0;
      const draining: Worker = h.worker({ queue, shutdownGraceMs: 30_000, maxConcurrent: 4 });
      draining.register('job', async (ctx, input: number) => {
        executions++;
        started.resolve(ctx.runId);
        await gate.promise;
        return `done-${input}`;
      });
      await draining.start();
      const inFlight = await client.start('job', 1, { queue });
      expect(await started.promise).toBe(inFlight.id);
      const id = draining.workerId!;

      const drained = draining.drain();
      await waitFor(async () => (await workerRow(h, id)).status === 'DRAINING', 'the worker to be DRAINING');

      // New work is not given to it while it drains …
      const queued = await client.start('job', 2, { queue });
      const viaHttp = await pollAs(h, id, { queue, types: ['job'] });
      expect(viaHttp.status).toBe(409);
      // DRAINING is its own reason: re-registering would undo the drain.
      expect(viaHttp.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: ErrorReason.WORKER_DRAINING });
      const grpc = new Transport(h.grpcAddress);
      try {
        const err = await grpc
          .call('worker', 'PollTask', { namespace: 'default', queue, workerId: id, workflowTypes: ['job'] })
          .then(
            () => null,
            (e: unknown) => e,
          );
        expect(err).toBeInstanceOf(BatonError);
        expect((err as BatonError).code).toBe(ErrorCode.FAILED_PRECONDITION);
        expect((err as BatonError).reason).toBe(ErrorReason.WORKER_DRAINING);
      } finally {
        grpc.close();
      }

      // … while the run it holds stays its own (heartbeats keep the lease) and finishes.
      const held = await runRow(h, inFlight.id);
      expect(held).toMatchObject({ status: 'RUNNING', locked_by: id, lease_epoch: 1 });
      gate.resolve();
      await expect(client.result(inFlight.id)).resolves.toBe('done-1');
      await drained;
      expect((await workerRow(h, id)).status).toBe('OFFLINE');
      expect((await pollAs(h, id, { queue, types: ['job'] })).status).toBe(409);

      // The run queued during the drain was never claimed by it; a fresh worker takes it.
      expect(await runRow(h, queued.id)).toMatchObject({ status: 'PENDING', claims: 0, locked_by: null });
      expect(executions).toBe(1);
      const next = h.worker({ queue });
      next.register('job', async (_ctx, input: number) => `next-${input}`);
      await next.start();
      await expect(client.result(queued.id)).resolves.toBe('next-2');
    });
  });

  describe('1.2 heartbeat & health', () => {
    test('worker_heartbeat_extends_active_status', async () => {
      const queue = h.unique();
      const stale = h.config.workerStaleThresholdMs;
      const lease = h.config.leaseDurationMs;
      const beating = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const silent = await ProtocolWorker.register(h, { queue: h.unique(), workflowTypes: ['job'] });
      const run = await h.client().start('job', null, { queue });
      const task = await beating.pollUntilTask();
      const claimed = await runRow(h, run.id);

      let beats = 0;
      const timer = setInterval(() => {
        void beating.heartbeat([task.runId]).then((res) => {
          if (res.status === 200 && res.json.action === 'OK') beats++;
        });
      }, 300);
      try {
        // Past both the stale threshold and the first lease, measured by the database's clock.
        const horizon = Math.max(stale, lease) + 1_000;
        await waitFor(
          async () =>
            (
              await h.query(
                `SELECT 1 FROM workers WHERE id = $1 AND registered_at < now() - $2 * interval '1 millisecond'`,
                [beating.id, horizon],
              )
            ).length === 1,
          'the worker to have lived past the stale threshold and its first lease',
          { timeoutMs: horizon + 10_000 },
        );
        // The silent control went OFFLINE meanwhile; the beating worker did not.
        await waitFor(
          async () => (await workerRow(h, silent.id)).status === 'OFFLINE',
          'the silent worker to go OFFLINE',
        );
        const row = await workerRow(h, beating.id);
        expect(row.status).toBe('ONLINE');
        expect(row.last_heartbeat_at.getTime()).toBeGreaterThan(row.registered_at.getTime() + stale);
        const [{ age }] = await h.query(
          `SELECT extract(epoch FROM now() - last_heartbeat_at) * 1000 AS age FROM workers WHERE id = $1`,
          [beating.id],
        );
        expect(Number(age)).toBeLessThan(stale);
        expect(beats).toBeGreaterThan(5);

        // Its run's lease moved forward with the heartbeats: still its own, same epoch, never recovered.
        const now = await runRow(h, run.id);
        expect(now).toMatchObject({ status: 'RUNNING', locked_by: beating.id, lease_epoch: 1, attempt: 1 });
        expect(now.locked_until.getTime()).toBeGreaterThan(claimed.locked_until.getTime() + stale);
        expect(await beating.complete(task, 'ok')).toBe(200);
      } finally {
        clearInterval(timer);
      }
    });

    test('worker_heartbeat_updates_active_count', async () => {
      const queue = h.unique();
      const client = h.client();
      const raw = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'], maxConcurrent: 10 });
      const runs = await Promise.all([1, 2, 3].map((n) => client.start('job', n, { queue })));
      const tasks = await Promise.all(runs.map(() => raw.pollUntilTask()));
      expect(tasks.map((t) => t.runId).sort()).toEqual(runs.map((r) => r.id).sort());
      const activeCount = async () => {
        const res = await fetch(`${h.httpUrl}/v1/namespaces/default/workers/${raw.id}`);
        const body = (await res.json()) as { activeCount: number };
        expect((await workerRow(h, raw.id)).active_count).toBe(body.activeCount);
        return body.activeCount;
      };

      expect((await raw.heartbeat(tasks.map((t) => t.runId))).json).toMatchObject({
        action: 'OK',
        cancelledRunIds: [],
      });
      expect(await activeCount()).toBe(3);

      expect(await raw.complete(tasks[0]!)).toBe(200);
      await raw.heartbeat(tasks.slice(1).map((t) => t.runId));
      expect(await activeCount()).toBe(2);

      // A run it reports but no longer holds (cancelled meanwhile) is not counted, and it is told to drop it.
      await client.cancel(tasks[1]!.runId);
      const res = await raw.heartbeat(tasks.slice(1).map((t) => t.runId));
      expect(res.json.cancelledRunIds).toEqual([tasks[1]!.runId]);
      expect(await activeCount()).toBe(1);

      await raw.complete(tasks[2]!);
      await raw.heartbeat([]);
      expect(await activeCount()).toBe(0);

      // The SDK worker reports what it is running.
      const gate = deferred();
      const sdkQueue = h.unique();
      const sdk = h.worker({ queue: sdkQueue, maxConcurrent: 5 });
      sdk.register('job', async () => gate.promise.then(() => 'ok'));
      await sdk.start();
      const sdkRuns = await Promise.all([1, 2].map((n) => client.start('job', n, { queue: sdkQueue })));
      await waitFor(
        async () => (await client.workers()).find((w) => w.id === sdk.workerId)?.activeCount === 2,
        'the SDK worker to report 2 active runs',
      );
      gate.resolve();
      for (const run of sdkRuns) await client.result(run.id);
      await waitFor(
        async () => (await workerRow(h, sdk.workerId!)).active_count === 0,
        'the SDK worker to report 0 active runs',
      );
    });
  });

  describe('1.3 multi-worker scenarios', () => {
    test('multiple_workers_same_queue_fair_distribution', async () => {
      const queue = h.unique();
      const WORKERS = 4;
      const RUNS = 120;
      const byWorker = new Map<number, string[]>();
      for (let i = 0; i < WORKERS; i++) {
        byWorker.set(i, []);
        const worker = h.worker({ queue, maxConcurrent: 2 });
        worker.register('job', async (ctx) => {
          byWorker.get(i)!.push(ctx.runId);
          await work(15);
          return i;
        });
        await worker.start();
      }
      const client = h.client();
      const runs = await Promise.all(Array.from({ length: RUNS }, (_, n) => client.start('job', n, { queue })));
      await Promise.all(runs.map((r) => client.result(r.id)));

      const counts = [...byWorker.values()].map((ids) => ids.length);
      expect(counts.reduce((a, b) => a + b, 0)).toBe(RUNS);
      const fairShare = RUNS / WORKERS;
      for (const n of counts) expect(n).toBeGreaterThanOrEqual(fairShare * 0.5);
      const executed = [...byWorker.values()].flat();
      expect(new Set(executed).size).toBe(RUNS);
      const [{ n }] = await h.query(
        `SELECT count(*)::int AS n FROM workflow_runs WHERE task_queue = $1 AND status = 'COMPLETED' AND claims = 1`,
        [queue],
      );
      expect(n).toBe(RUNS);
    });

    test('worker_with_different_workflow_types_only_receives_matching', async () => {
      const queue = h.unique();
      const seen: Record<string, string[]> = { alpha: [], beta: [], both: [] };
      const make = async (name: string, types: string[]) => {
        const worker = h.worker({ queue, maxConcurrent: 3 });
        for (const type of types) {
          worker.register(type, async () => {
            seen[name]!.push(type);
            await work(5);
            return type;
          });
        }
        await worker.start();
      };
      await make('alpha', ['alpha']);
      await make('beta', ['beta']);
      await make('both', ['alpha', 'beta']);
      const client = h.client();
      const runs = await Promise.all(
        Array.from({ length: 40 }, (_, n) => client.start(n % 2 ? 'alpha' : 'beta', n, { queue })),
      );
      for (const run of runs) await expect(client.result(run.id)).resolves.toBe(run.run.workflowType);
      expect(new Set(seen.alpha)).toEqual(new Set(['alpha']));
      expect(new Set(seen.beta)).toEqual(new Set(['beta']));
      expect(seen.alpha!.length + seen.beta!.length + seen.both!.length).toBe(40);

      // The server filters too: a worker that asks for a type it never registered gets nothing of it.
      const q2 = h.unique();
      const liar = (await ProtocolWorker.register(h, { queue: q2, workflowTypes: ['alpha'] })).keepAlive();
      const beta = await client.start('beta', null, { queue: q2 });
      const asked = await Promise.all([liar.poll({ types: ['beta'] }), liar.poll({ types: ['alpha', 'beta'] })]);
      expect(asked.map((o) => [o.status, o.task])).toEqual([
        [200, null],
        [200, null],
      ]);
      expect(await runRow(h, beta.id)).toMatchObject({ status: 'PENDING', claims: 0 });
      const alpha = await client.start('alpha', null, { queue: q2 });
      const task = await liar.pollUntilTask(15_000, ['alpha', 'beta']);
      expect(task).toMatchObject({ runId: alpha.id, workflowType: 'alpha' });
    });

    test('worker_concurrency_limit_respected', async () => {
      const queue = h.unique();
      const MAX = 3;
      const probe = concurrencyProbe();
      const full = probe.filled('job', MAX);
      const worker = h.worker({ queue, maxConcurrent: MAX, maxConcurrentPolls: MAX });
      worker.register('job', async () => {
        probe.enter('job');
        try {
          // The first runs hold their slots until the worker runs MAX at once; then all work briefly.
          await full;
          await work(10);
        } finally {
          probe.leave('job');
        }
        return 'ok';
      });
      await worker.start();
      const client = h.client();
      const runs = await Promise.all(Array.from({ length: 30 }, (_, n) => client.start('job', n, { queue })));
      await Promise.all(runs.map((r) => client.result(r.id)));
      expect(probe.peak.total).toBe(MAX);
      expect((await peakHeld(h, worker.workerId!)).held).toBeLessThanOrEqual(MAX);

      // A hostile worker polls far beyond its max_concurrent, at two matching replicas at once.
      const hostileQueue = h.unique();
      const replica = await bootstrapMatching({ ...h.config, matchingHealthPort: await freePort() });
      try {
        const hostile = (
          await ProtocolWorker.register(h, { queue: hostileQueue, workflowTypes: ['job'], maxConcurrent: 2 })
        ).keepAlive();
        await Promise.all(Array.from({ length: 10 }, (_, n) => client.start('job', n, { queue: hostileQueue })));
        const got = await pollBurst(hostile, 30);
        expect(got).toHaveLength(2);
        expect((await heldNow(h, hostile.id)).held).toBe(2);

        expect(await hostile.complete(got[0]!)).toBe(200);
        const more = await pollBurst(hostile, 20);
        expect(more).toHaveLength(1);
        expect((await heldNow(h, hostile.id)).held).toBe(2);
        expect((await peakHeld(h, hostile.id)).held).toBe(2);
        const [{ pending }] = await h.query(
          `SELECT count(*)::int AS pending FROM workflow_runs WHERE task_queue = $1 AND status = 'PENDING'`,
          [hostileQueue],
        );
        expect(pending).toBe(7);
      } finally {
        await replica.close();
      }
    });

    test('workflow_type_concurrency_limit_per_worker', async () => {
      const queue = h.unique();
      const probe = concurrencyProbe();
      const slowFull = probe.filled('slow', 2);
      const worker = h.worker({ queue, maxConcurrent: 6, typeConcurrency: { slow: 2 } });
      for (const type of ['slow', 'fast'] as const) {
        worker.register(type, async () => {
          probe.enter(type);
          try {
            // Slow runs hold their slots until two run at once (the limit); fast ones keep flowing meanwhile.
            if (type === 'slow') await slowFull;
            await work(type === 'slow' ? 30 : 5);
          } finally {
            probe.leave(type);
          }
          return type;
        });
      }
      await worker.start();
      const client = h.client();
      const runs = await Promise.all(
        Array.from({ length: 24 }, (_, n) => client.start(n % 2 ? 'fast' : 'slow', n, { queue })),
      );
      await Promise.all(runs.map((r) => client.result(r.id)));
      expect(probe.peak.byType.slow).toBe(2);
      expect(probe.peak.total).toBeLessThanOrEqual(6);
      const audited = await peakHeld(h, worker.workerId!);
      expect(audited.byType.slow).toBeLessThanOrEqual(2);
      expect(audited.held).toBeLessThanOrEqual(6);

      // A hostile worker asks for a type it is at its limit for: it gets nothing of that type, but other types still.
      const hostileQueue = h.unique();
      const replica = await bootstrapMatching({ ...h.config, matchingHealthPort: await freePort() });
      try {
        const hostile = await ProtocolWorker.register(h, {
          queue: hostileQueue,
          workflowTypes: ['slow', 'fast'],
          maxConcurrent: 10,
          typeConcurrency: { slow: 1 },
        });
        hostile.keepAlive();
        for (let n = 0; n < 4; n++) await client.start('slow', n, { queue: hostileQueue });
        for (let n = 0; n < 3; n++) await client.start('fast', n, { queue: hostileQueue });
        const got = await pollBurst(hostile, 10, ['slow', 'fast']);
        expect(got.map((t) => t.workflowType).sort()).toEqual(['fast', 'fast', 'fast', 'slow']);
        expect(await heldNow(h, hostile.id)).toEqual({ held: 4, byType: { slow: 1, fast: 3 } });

        expect(await pollBurst(hostile, 5, ['slow'])).toEqual([]);
        expect((await heldNow(h, hostile.id)).byType.slow).toBe(1);

        const slowTask = got.find((t) => t.workflowType === 'slow')!;
        expect(await hostile.complete(slowTask)).toBe(200);
        const next = await pollBurst(hostile, 5, ['slow']);
        expect(next.map((t) => t.workflowType)).toEqual(['slow']);
        expect((await peakHeld(h, hostile.id)).byType).toEqual({ slow: 1, fast: 3 });
      } finally {
        await replica.close();
      }
    });
  });
});
