import type { RunningApp } from '@baton/runtime';
import type { Client } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';
import { expectNoOwnerlessRunningRuns, trueQueueCounts } from '../harness/assertions';
import { corrections, installCorrectionAudit, installTransitionAudit, transitions } from '../harness/audit';
import { startWatchdogReplica as startReplica } from '../harness/replica';
import { SilentWorker } from '../harness/silent-worker';
import type { ClaimedTask } from '../harness/silent-worker';

/*
 * Several watchdog replicas against one database: every job claims its rows
 * with SKIP LOCKED (or serialises on a lock), so each run is moved exactly
 * once however the replicas' passes interleave. Short intervals and small
 * batches make the passes overlap as much as possible.
 */

async function expectCountersExact(h: TestHarness, client: Client, queue: string) {
  const truth = await trueQueueCounts(h, queue);
  const stats = await client.queueStats(queue);
  expect({ pending: stats.pending, running: stats.running, sleeping: stats.sleeping }).toEqual(truth);
  return truth;
}

/** Starts `n` runs of `type` on `queue`. */
async function startMany(client: Client, n: number, type: string, queue: string, retry?: object) {
  const runs = await Promise.all(Array.from({ length: n }, (_, i) => client.start(type, i, { queue, retry })));
  return runs.map((r) => r.id);
}

/** Long enough that no sleeper comes due while the parker is still claiming the others. */
const NAP_MS = 5_000;

describe('watchdog replicas', () => {
  let h: TestHarness;
  const replicas: RunningApp[] = [];

  beforeAll(async () => {
    h = await TestHarness.start({
      watchdogIntervalSecs: 0.2,
      leaseDurationSecs: 2,
      workerStaleThresholdSecs: 60,
      heartbeatIntervalSecs: 0.25,
      wakeBatchSize: 7,
      recoveryBatchSize: 5,
      // No reconciliation in the background: counters must be exact from the triggers alone.
      reconcileIntervalSecs: 3_600,
    });
    // Two more replicas beside the harness's own watchdog: three in all.
    replicas.push(await startReplica(h), await startReplica(h));
    await installTransitionAudit(h);
    await installCorrectionAudit(h);
  });

  afterAll(async () => {
    await Promise.allSettled(replicas.map((r) => r.close()));
    await h?.stop();
  });

  test('three replicas wake each due sleeper exactly once', async () => {
    const queue = h.unique();
    const client = h.client();
    const n = 60;
    // A raw worker parks every run asleep and then stops polling, so only the watchdogs can wake them.
    const parker = await SilentWorker.register(h, { queue, workflowTypes: ['nap'] });
    const ids = await startMany(client, n, 'nap', queue);
    // Each claim is parked at once (ten polls at a time), and the parker heartbeats for what it
    // holds meanwhile: its short leases must not run out between the claim and the Sleep.
    const held = new Set<string>();
    const beating = setInterval(() => void parker.heartbeat([...held]).catch(() => undefined), 200);
    const tasks: ClaimedTask[] = [];
    try {
      for (let i = 0; i < n; i += 10) {
        const chunk = await Promise.all(
          Array.from({ length: 10 }, async () => {
            const task = await parker.claim();
            held.add(task.runId);
            const res = await parker.sleep(task, 'nap', 0, NAP_MS);
            if (res.status !== 200) throw new Error(`Sleep answered ${res.status}: ${JSON.stringify(res.body)}`);
            held.delete(task.runId);
            return task;
          }),
        );
        tasks.push(...chunk);
      }
    } finally {
      clearInterval(beating);
    }
    expect(new Set(tasks.map((t) => t.runId))).toEqual(new Set(ids));
    await parker.deregister();
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: 0, running: 0, sleeping: n });

    await waitFor(async () => (await trueQueueCounts(h, queue)).pending === n, `all ${n} sleepers woken`);
    const woken = (await transitions(h, ids)).filter((t) => t.from_status === 'SLEEPING');
    expect(woken).toHaveLength(n);
    expect(woken.every((t) => t.to_status === 'PENDING' && t.to_attempt === 1)).toBe(true);
    expect(new Set(woken.map((t) => t.run_id)).size).toBe(n);
    const early = await h.query(`SELECT 1 FROM workflow_runs WHERE id = ANY($1::uuid[]) AND updated_at < wake_up_at`, [
      ids,
    ]);
    expect(early).toHaveLength(0);
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: n, running: 0, sleeping: 0 });

    // A worker finishes them: each run went through exactly five transitions.
    const worker = h.worker({ queue, maxConcurrent: 30 });
    worker.register('nap', async (ctx, i: number) => {
      await ctx.sleep('nap', NAP_MS);
      return i;
    });
    await worker.start();
    for (const id of ids) await client.result(id);
    const all = await transitions(h, ids);
    const perRun = new Map<string, string[]>();
    for (const t of all) perRun.set(t.run_id, [...(perRun.get(t.run_id) ?? []), `${t.from_status}>${t.to_status}`]);
    for (const id of ids) {
      expect(perRun.get(id)).toEqual([
        'PENDING>RUNNING',
        'RUNNING>SLEEPING',
        'SLEEPING>PENDING',
        'PENDING>RUNNING',
        'RUNNING>COMPLETED',
      ]);
    }
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
    await expectNoOwnerlessRunningRuns(h, { queue });
  });

  test('three replicas recover each lost lease exactly once', async () => {
    const queue = h.unique();
    const client = h.client();
    const n = 40;
    // maxAttempts 2: a lease recovered twice would fail the run, so a spurious FAILED shows any double move.
    const retry = { maxAttempts: 2, initialIntervalMs: 100 };
    const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
    const ids = await startMany(client, n, 'job', queue, retry);
    await silent.claimMany(n);
    await waitFor(async () => (await trueQueueCounts(h, queue)).pending === n, `all ${n} orphans recovered`);

    const moves = (await transitions(h, ids)).filter((t) => t.from_status === 'RUNNING');
    expect(moves).toHaveLength(n);
    for (const move of moves) {
      expect(move).toMatchObject({ to_status: 'PENDING', from_attempt: 1, to_attempt: 2, error_type: null });
    }
    expect(new Set(moves.map((m) => m.run_id)).size).toBe(n);
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: n, running: 0, sleeping: 0 });
    await silent.deregister();

    const attempts: number[] = [];
    const worker = h.worker({ queue, maxConcurrent: 20 });
    worker.register('job', async (ctx, i: number) => {
      attempts.push(ctx.attempt);
      return i;
    });
    await worker.start();
    for (const id of ids) await client.result(id);
    expect(attempts).toHaveLength(n);
    expect(new Set(attempts)).toEqual(new Set([2]));
    const [failed] = await h.query(
      `SELECT count(*)::int AS n FROM workflow_runs WHERE id = ANY($1::uuid[]) AND status = 'FAILED'`,
      [ids],
    );
    expect(failed!.n).toBe(0);
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
    await expectNoOwnerlessRunningRuns(h, { queue });
  });

  test('stale-worker recovery and lease recovery racing on three replicas move each run once', async () => {
    const queue = h.unique();
    const client = h.client();
    const n = 30;
    const retry = { maxAttempts: 2, initialIntervalMs: 100 };
    const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
    const ids = await startMany(client, n, 'job', queue, retry);
    await silent.claimMany(n);
    // In one statement the worker turns stale (silent for 10 minutes while the frontend was up to hear
    // it) and every lease it holds expires: both jobs, on every replica, now want the same runs.
    await h.query(
      `WITH w AS (UPDATE workers SET last_heartbeat_at = now() - interval '10 minutes' WHERE id = $1 RETURNING id),
            f AS (UPDATE service_pulses SET up_since = now() - interval '10 minutes')
       UPDATE workflow_runs SET locked_until = now() - interval '1 millisecond'
       WHERE locked_by = (SELECT id FROM w) AND status = 'RUNNING'`,
      [silent.id],
    );
    await waitFor(async () => (await trueQueueCounts(h, queue)).pending === n, `all ${n} runs freed`);
    await waitFor(
      async () =>
        (await h.query(`SELECT 1 FROM workers WHERE id = $1 AND status = 'OFFLINE'`, [silent.id])).length === 1,
      'the silent worker to be marked OFFLINE',
    );

    const moves = (await transitions(h, ids)).filter((t) => t.from_status === 'RUNNING');
    expect(moves).toHaveLength(n);
    for (const move of moves) expect(move).toMatchObject({ to_status: 'PENDING', from_attempt: 1, to_attempt: 2 });
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: n, running: 0, sleeping: 0 });

    const healthy = h.worker({ queue, maxConcurrent: 20 });
    healthy.register('job', async (ctx) => ctx.attempt);
    await healthy.start();
    for (const id of ids) expect(await client.result(id)).toBe(2);
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
    await expectNoOwnerlessRunningRuns(h, { queue });
  });

  test('two reconciling replicas repair drift exactly once', async () => {
    const queue = h.unique();
    const client = h.client();
    await startMany(client, 6, 'nobody-serves-this', queue);
    await waitFor(
      async () => (await h.query(`SELECT 1 FROM queue_counter_deltas WHERE task_queue = $1`, [queue])).length === 0,
      'the deltas to be folded',
    );
    // Reconcilers caught mid-pass: blocked on their turn (advisory lock or table lock) or on the
    // read of runs and counters that the test holds up.
    const pass = `application_name = 'baton-watchdog' AND state = 'active' AND pid <> pg_backend_pid()
      AND (wait_event = 'advisory' OR query ILIKE '%LOCK TABLE queue_counter_deltas%' OR query ILIKE '%FROM workflow_runs%')`;
    const blockedPasses = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND ${pass}`;
    const activePasses = `SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${pass}`;
    // Meanwhile transitions must keep flowing: reconciling never stalls the engine.
    const other = h.unique();
    const worker = h.worker({ queue: other });
    worker.register('quick', async () => 'done');
    await worker.start();
    const reconcilers = [
      await startReplica(h, { reconcileIntervalMs: 200 }),
      await startReplica(h, { reconcileIntervalMs: 200 }),
    ];
    const blocker = await h.db.connect();
    try {
      // Corrupt the counters and, in the same transaction, hold the counter table so that both
      // reconcilers are caught mid-pass; committing releases them at the same instant.
      await blocker.query('BEGIN');
      await blocker.query(`UPDATE queue_counters SET pending = pending + 25, running = 4 WHERE task_queue = $1`, [
        queue,
      ]);
      await blocker.query('LOCK TABLE queue_counters IN ACCESS EXCLUSIVE MODE');
      await waitFor(async () => (await h.query(blockedPasses))[0]!.n >= 2, 'both reconcilers to be held mid-pass');
      const during = await client.start('quick', undefined, { queue: other });
      await expect(client.result(during.id, { timeout: '10s' })).resolves.toBe('done');
      await blocker.query('COMMIT');
      await waitFor(async () => (await h.query(activePasses))[0]!.n === 0, 'both passes to finish');
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      await Promise.allSettled(reconcilers.map((r) => r.close()));
    }
    // One repair, not one per replica, and the counters are right.
    expect(await corrections(h, queue)).toEqual([{ pending: -25, running: -4, sleeping: 0 }]);
    expect(await expectCountersExact(h, client, queue)).toEqual({ pending: 6, running: 0, sleeping: 0 });
    expect(await corrections(h, other)).toEqual([]);
    expect(await expectCountersExact(h, client, other)).toEqual({ pending: 0, running: 0, sleeping: 0 });
    await expectNoOwnerlessRunningRuns(h, { queue });
  });
});
