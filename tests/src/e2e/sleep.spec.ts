import { Transport } from '@baton/sdk';
import { TIMERS } from '@baton/contracts';
import { TestHarness, deferred, rawCall, waitFor } from '../index';
import { expectNoOwnerlessRunningRuns, trueQueueCounts } from '../harness/assertions';
import { SilentWorker } from '../harness/silent-worker';

const MAX_SLEEP_MS = 30 * 24 * 60 * 60 * 1000; // 2,592,000,000

/** The run row, with the exact (microsecond) gap between wake-up and finish as numbers. */
async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]);
  return row!;
}

async function waitStatus(h: TestHarness, id: string, status: string, timeoutMs = 15_000) {
  return waitFor(
    async () => {
      const row = await runRow(h, id);
      return row.status === status ? row : null;
    },
    `run ${id} to be ${status}`,
    { timeoutMs },
  );
}

/** A SLEEP step as stored, with its duration (wake_up_at − started_at, same now()) in exact milliseconds. */
async function sleepStep(h: TestHarness, runId: string, stepId: string) {
  const [row] = await h.query(
    `SELECT s.*, (extract(epoch FROM (s.wake_up_at - s.started_at)) * 1000)::numeric AS slept_ms
     FROM step_runs s WHERE run_id = $1 AND step_id = $2`,
    [runId, stepId],
  );
  return row;
}

/** A sleeper never wakes early: the run finished at or after every one of its sleeps' wake-up times. */
async function expectFinishedAfterEveryWake(h: TestHarness, runId: string) {
  const [row] = await h.query(
    `SELECT r.status, r.finished_at, count(s.*)::int AS sleeps,
            count(*) FILTER (WHERE s.wake_up_at > r.finished_at)::int AS woke_early
     FROM workflow_runs r JOIN step_runs s ON s.run_id = r.id AND s.kind = 'SLEEP'
     WHERE r.id = $1 GROUP BY r.id`,
    [runId],
  );
  expect(row).toBeDefined();
  expect(row!.status).toBe('COMPLETED');
  expect(row!.sleeps).toBeGreaterThan(0);
  expect(row!.woke_early).toBe(0);
}

describe('4. Sleep & timer handling', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ wakeBatchSize: 5 });
  });

  afterAll(() => h?.stop());

  describe('4.1 basic sleep', () => {
    test('sleep_transitions_workflow_to_sleeping', async () => {
      const queue = h.unique();
      const client = h.client();
      const worker = h.worker({ queue });
      worker.register('napper', async (ctx) => {
        const before = await ctx.step('before', () => 'ran');
        await ctx.sleep('nap', 3_000);
        return before;
      });
      await worker.start();
      const run = await client.start('napper', undefined, { queue });

      const row = await waitStatus(h, run.id, 'SLEEPING');
      // Parked: no owner, no lease, claimable again exactly at the wake time.
      expect(row.locked_by).toBeNull();
      expect(row.locked_until).toBeNull();
      expect(row.wake_up_at).toBeInstanceOf(Date);
      expect(row.available_at.getTime()).toBe(row.wake_up_at.getTime());
      expect(row.attempt).toBe(1);
      const view = await client.get(run.id);
      expect(view.status).toBe('SLEEPING');
      expect(view.wakeUpAt?.getTime()).toBe(row.wake_up_at.getTime());
      const steps = await client.steps(run.id);
      expect(steps.map((s) => [s.stepId, s.kind, s.seq])).toEqual([
        ['before', 'FUNCTION', 0],
        ['nap', 'SLEEP', 1],
      ]);
      expect(steps[1]!.status).toBe('RUNNING');
      expect(steps[1]!.wakeUpAt?.getTime()).toBe(row.wake_up_at.getTime());
      // The worker's slot is free while the run sleeps, and the counters say SLEEPING.
      await waitFor(() => worker.activeCount === 0, 'the worker to let go of the sleeping run');
      expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 1 });

      await expect(client.result(run.id)).resolves.toBe('ran');
      await expectFinishedAfterEveryWake(h, run.id);
      expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 0 });
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_wake_up_at_set_correctly', async () => {
      const queue = h.unique();
      const client = h.client();
      const worker = h.worker({ queue });
      worker.register('by-number', async (ctx) => {
        await ctx.sleep('nap', 2_345);
        return 'n';
      });
      worker.register('by-text', async (ctx) => {
        await ctx.sleep('nap', '1s250ms');
        return 't';
      });
      await worker.start();

      const startedAt = Date.now();
      const byNumber = await client.start('by-number', undefined, { queue });
      const byText = await client.start('by-text', undefined, { queue });
      const numberRow = await waitStatus(h, byNumber.id, 'SLEEPING');
      const textRow = await waitStatus(h, byText.id, 'SLEEPING');
      const observedAt = Date.now();

      for (const [row, ms] of [
        [numberRow, 2_345],
        [textRow, 1_250],
      ] as const) {
        const step = await sleepStep(h, row.id, 'nap');
        // Computed from the duration with millisecond precision: exactly `ms` after the Sleep call's now().
        expect(Number(step!.slept_ms)).toBe(ms);
        expect(step!.wake_up_at.getTime()).toBe(row.wake_up_at.getTime());
        expect(row.wake_up_at.getTime()).toBeGreaterThanOrEqual(startedAt + ms - 5);
        expect(row.wake_up_at.getTime()).toBeLessThanOrEqual(observedAt + ms + 5);
      }
      // Not truncated to whole seconds: the exact database value keeps its sub-second part.
      const [exact] = await h.query(
        `SELECT count(*)::int AS whole FROM step_runs WHERE run_id = ANY($1::uuid[]) AND kind = 'SLEEP'
           AND wake_up_at = date_trunc('second', wake_up_at)`,
        [[byNumber.id, byText.id]],
      );
      expect(exact!.whole).toBe(0);

      // Over the raw protocol the Sleep reply carries the same wake-up time, to the millisecond.
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['raw-nap'] });
      const rawRun = await client.start('raw-nap', undefined, { queue });
      const task = await raw.claim();
      expect(task.runId).toBe(rawRun.id);
      const reply = await raw.sleep(task, 'nap', 0, 1_001).expect(200);
      expect(reply.body.suspended).toBe(true);
      const rawStep = await sleepStep(h, rawRun.id, 'nap');
      expect(Number(rawStep!.slept_ms)).toBe(1_001);
      expect(new Date(reply.body.wakeUpAt).getTime()).toBe(rawStep!.wake_up_at.getTime());

      await expect(client.result(byNumber.id)).resolves.toBe('n');
      await expect(client.result(byText.id)).resolves.toBe('t');
      await expectFinishedAfterEveryWake(h, byNumber.id);
      await expectFinishedAfterEveryWake(h, byText.id);
      await raw.deregister();
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_counts_from_when_the_worker_asked', async () => {
      const queue = h.unique();
      const client = h.client();
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['nap'] });
      const transport = new Transport(h.grpcAddress);
      try {
        /**
         * The SLEEP step's wake time against its row's updated_at (the Sleep statement's own now()), in exact
         * milliseconds. The step row, not the run's: a run due at once may be woken (and its row touched) at any moment.
         */
        const wakeAfterNow = async (runId: string) => {
          const [row] = await h.query(
            `SELECT (extract(epoch FROM (wake_up_at - updated_at)) * 1000)::numeric AS ms FROM step_runs
             WHERE run_id = $1 AND step_id = 'nap'`,
            [runId],
          );
          return Number(row!.ms);
        };
        const claim = async () => {
          const run = await client.start('nap', undefined, { queue });
          const task = await raw.claim();
          expect(task.runId).toBe(run.id);
          return task;
        };

        /**
         * A call that waited `waitedMs` in its worker: the sleep began then, so it wakes `60 s − waitedMs` after
         * the call arrived, and the time the call then spent in the server before its statement counts too. That
         * time is within the call's round trip, measured here.
         */
        const expectWake = async (runId: string, waitedMs: number, call: () => Promise<unknown>) => {
          const sent = Date.now();
          await call();
          const roundTrip = Date.now() - sent;
          const wake = await wakeAfterNow(runId);
          expect(wake).toBeLessThanOrEqual(60_000 - waitedMs);
          expect(wake).toBeGreaterThanOrEqual(60_000 - waitedMs - roundTrip);
        };

        const waited = await claim();
        await expectWake(waited.runId, 1_500, () =>
          raw.sleep(waited, 'nap', 0, 60_000, { waitedMs: 1_500 }).expect(200),
        );
        const step = await sleepStep(h, waited.runId, 'nap');
        expect(Number(step!.slept_ms)).toBe(60_000);

        // Over gRPC the same: waited_ms beside duration_ms.
        const overGrpc = await claim();
        const lease = { namespace: 'default', runId: overGrpc.runId, ...raw.lease(overGrpc) };
        await expectWake(overGrpc.runId, 250, async () => {
          const reply = await rawCall(transport, 'worker', 'Sleep', {
            lease,
            stepId: 'nap',
            seq: 0,
            durationMs: 60_000,
            waitedMs: 250,
          });
          expect(reply.suspended).toBe(true);
        });

        // A bad wait is refused naming waitedMs, the same over HTTP and gRPC, and nothing is stored.
        const bad = await claim();
        const badLease = { namespace: 'default', runId: bad.runId, ...raw.lease(bad) };
        for (const waitedMs of [-1, MAX_SLEEP_MS + 1]) {
          const res = await raw.sleep(bad, 'nap', 0, 1_000, { waitedMs }).expect(400);
          expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'waitedMs' });
          const err = await rawCall(transport, 'worker', 'Sleep', {
            lease: badLease,
            stepId: 'nap',
            seq: 0,
            durationMs: 1_000,
            waitedMs,
          }).then(
            () => null,
            (e: unknown) => e as { code?: string; field?: string; message: string },
          );
          expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'waitedMs' });
          expect(err!.message).toBe(res.body.error.message);
        }
        const untouched = await runRow(h, bad.runId);
        expect(untouched.status).toBe('RUNNING');
        expect(untouched.wake_up_at).toBeNull();
        expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [bad.runId])).toHaveLength(0);
        await raw.completeWorkflow(bad, 'ok').expect(200);

        // A wait longer than the sleep is counted up to it: due at once, never before the call arrived.
        const overdue = await claim();
        await raw.sleep(overdue, 'nap', 0, 300, { waitedMs: 5_000 }).expect(200);
        expect(await wakeAfterNow(overdue.runId)).toBe(0);
        expect(Number((await sleepStep(h, overdue.runId, 'nap'))!.slept_ms)).toBe(300);
      } finally {
        transport.close();
        await raw.deregister();
      }
    });

    test('sleep_after_a_step_records_both_or_neither', async () => {
      const queue = h.unique();
      const client = h.client();
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['step-then-nap'] });
      try {
        const claim = async () => {
          const run = await client.start('step-then-nap', undefined, { queue });
          const task = await raw.claim();
          expect(task.runId).toBe(run.id);
          return task;
        };
        const stepsOf = (runId: string) =>
          h.query(`SELECT step_id, seq, kind, status, output FROM step_runs WHERE run_id = $1 ORDER BY seq`, [runId]);

        // The usual call: the step before the sleep and the sleep, both recorded, the run asleep.
        const task = await claim();
        const lastStep = { stepId: 'fetch', seq: 0, output: 'got it', durationMs: 12 };
        await raw.sleep(task, 'nap', 1, 60_000, { lastStep }).expect(200);
        const steps = await stepsOf(task.runId);
        expect(steps.map((r) => [r.step_id, r.seq, r.kind, r.status])).toEqual([
          ['fetch', 0, 'FUNCTION', 'COMPLETED'],
          ['nap', 1, 'SLEEP', 'RUNNING'],
        ]);
        expect(JSON.parse(Buffer.from(steps[0]!.output).toString())).toBe('got it');
        expect((await runRow(h, task.runId)).status).toBe('SLEEPING');

        // The sleep cannot follow (its position is the step's own): refused, and the step is not recorded either.
        const clash = await claim();
        const res = await raw
          .sleep(clash, 'nap', 0, 60_000, { lastStep: { stepId: 'fetch', seq: 0, output: 'x' } })
          .expect(409);
        expect(res.body.error.code).toBe('FAILED_PRECONDITION');
        expect(await stepsOf(clash.runId)).toHaveLength(0);
        const held = await runRow(h, clash.runId);
        expect(held.status).toBe('RUNNING');
        expect(held.locked_by).toBe(raw.id);
        await raw.completeWorkflow(clash, 'ok').expect(200);
      } finally {
        await raw.deregister();
      }
    });

    test('sleep_zero_duration_is_noop', async () => {
      const queue = h.unique();
      const client = h.client();
      let invocations = 0;
      const worker = h.worker({ queue });
      worker.register('zero', async (ctx) => {
        invocations++;
        await ctx.sleep('zero-ms', 0);
        await ctx.sleep('zero-text', '0s');
        return ctx.step('after', () => 'went on');
      });
      await worker.start();
      const run = await client.start('zero', undefined, { queue });
      await expect(client.result(run.id)).resolves.toBe('went on');
      const row = await runRow(h, run.id);
      // Never suspended: one claim, one invocation, no wake time, no SLEEP step recorded.
      expect(row.claims).toBe(1);
      expect(invocations).toBe(1);
      expect(row.wake_up_at).toBeNull();
      const steps = await client.steps(run.id);
      expect(steps.map((s) => s.stepId)).toEqual(['after']);

      // The server treats a zero Sleep as a no-op too: the run stays RUNNING under the same lease.
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['raw-zero'] });
      const rawRun = await client.start('raw-zero', undefined, { queue });
      const task = await raw.claim();
      const before = await runRow(h, rawRun.id);
      const reply = await raw.sleep(task, 'zero', 0, 0).expect(200);
      expect(reply.body).toEqual({ suspended: false, wakeUpAt: null });
      const after = await runRow(h, rawRun.id);
      expect(after.status).toBe('RUNNING');
      expect(after.locked_by).toBe(raw.id);
      expect(after.lease_epoch).toBe(before.lease_epoch);
      expect(after.wake_up_at).toBeNull();
      expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [rawRun.id])).toHaveLength(0);
      await raw.completeWorkflow(task, 'done').expect(200);
      expect((await runRow(h, rawRun.id)).status).toBe('COMPLETED');
      await raw.deregister();
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_max_duration_accepted', async () => {
      const queue = h.unique();
      const client = h.client();
      const worker = h.worker({ queue });
      worker.register('month', async (ctx) => {
        await ctx.sleep('month', '30d');
        return 'never reached in this test';
      });
      await worker.start();
      const run = await client.start('month', undefined, { queue });
      const row = await waitStatus(h, run.id, 'SLEEPING');
      const step = await sleepStep(h, run.id, 'month');
      expect(Number(step!.slept_ms)).toBe(MAX_SLEEP_MS);
      expect(Math.abs(row.wake_up_at.getTime() - (Date.now() + MAX_SLEEP_MS))).toBeLessThan(10_000);
      expect(row.status).toBe('SLEEPING');

      // The exact limit in milliseconds over the raw protocol: accepted (inclusive).
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['raw-month'] });
      const rawRun = await client.start('raw-month', undefined, { queue });
      const task = await raw.claim();
      const reply = await raw.sleep(task, 'month', 0, MAX_SLEEP_MS).expect(200);
      expect(reply.body.suspended).toBe(true);
      expect(Math.abs(new Date(reply.body.wakeUpAt).getTime() - (Date.now() + MAX_SLEEP_MS))).toBeLessThan(10_000);
      const rawRow = await runRow(h, rawRun.id);
      expect(rawRow.status).toBe('SLEEPING');
      expect(Number((await sleepStep(h, rawRun.id, 'month'))!.slept_ms)).toBe(MAX_SLEEP_MS);
      expect(await client.queueStats(queue)).toMatchObject({ sleeping: 2, running: 0, pending: 0 });
      await raw.deregister();
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_over_max_duration_rejected', async () => {
      const queue = h.unique();
      const client = h.client();

      // Raw protocol: each bad duration is INVALID_ARGUMENT naming durationMs (and the limit), nothing stored.
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['raw-long'] });
      const rawRun = await client.start('raw-long', undefined, { queue });
      const task = await raw.claim();
      const before = await runRow(h, rawRun.id);
      for (const duration of [MAX_SLEEP_MS + 1, '31d', '30d1ms']) {
        const res = await raw.sleep(task, 'long', 0, duration).expect(400);
        expect(res.body.error.code).toBe('INVALID_ARGUMENT');
        expect(res.body.error.field).toBe('durationMs');
        expect(res.body.error.message).toContain('durationMs');
        expect(res.body.error.message).toContain(String(MAX_SLEEP_MS));
      }
      for (const duration of [-1, -5_000, '-5s']) {
        const res = await raw.sleep(task, 'negative', 0, duration).expect(400);
        expect(res.body.error.code).toBe('INVALID_ARGUMENT');
        expect(res.body.error.field).toBe('durationMs');
        expect(res.body.error.message).toMatch(/negative/);
      }
      const after = await runRow(h, rawRun.id);
      expect(after.status).toBe('RUNNING');
      expect(after.locked_by).toBe(raw.id);
      expect(after.lease_epoch).toBe(before.lease_epoch);
      expect(after.wake_up_at).toBeNull();
      expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [rawRun.id])).toHaveLength(0);
      await raw.completeWorkflow(task, 'ok').expect(200);
      await raw.deregister();

      // Through the SDK the handler sees the same error; if it lets it escape the run fails with it.
      const worker = h.worker({ queue });
      worker.register('catches', async (ctx) => {
        const seen: unknown[] = [];
        for (const [id, duration] of [
          ['too-long', MAX_SLEEP_MS + 1],
          ['negative', -1],
        ] as const) {
          try {
            await ctx.sleep(id, duration);
            seen.push('accepted');
          } catch (err) {
            const e = err as { code?: string; field?: string; message: string };
            seen.push({ code: e.code, field: e.field, message: e.message });
          }
        }
        return seen;
      });
      worker.register('throws', async (ctx) => {
        await ctx.sleep('too-long', MAX_SLEEP_MS + 1);
        return 'slept';
      });
      await worker.start();
      const caught = await client.start('catches', undefined, { queue });
      const seen = (await client.result(caught.id)) as Array<{ code: string; field: string; message: string }>;
      expect(seen).toHaveLength(2);
      expect(seen[0]).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'durationMs' });
      expect(seen[0]!.message).toContain(String(MAX_SLEEP_MS));
      expect(seen[1]).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'durationMs' });
      expect(seen[1]!.message).toMatch(/negative/);
      expect((await runRow(h, caught.id)).claims).toBe(1);
      expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1 AND kind = 'SLEEP'`, [caught.id])).toHaveLength(
        0,
      );

      const thrown = await client.start('throws', undefined, { queue, retry: { maxAttempts: 1 } });
      const failed = await client.waitForTerminal(thrown.id, '15s');
      expect(failed.status).toBe('FAILED');
      expect(failed.error?.message).toContain('durationMs');
      expect(failed.error?.message).toContain(String(MAX_SLEEP_MS));
      expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [thrown.id])).toHaveLength(0);
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });

  describe('4.2 sleep recovery', () => {
    test('sleeping_workflow_claimable_after_wake_up', async () => {
      const queue = h.unique();
      const client = h.client();
      const claimedAt: number[] = [];
      const worker = h.worker({ queue });
      worker.register('napper', async (ctx) => {
        claimedAt.push(Date.now());
        await ctx.sleep('nap', 1_500);
        return 'awake';
      });
      await worker.start();
      const run = await client.start('napper', undefined, { queue });
      const sleeping = await waitStatus(h, run.id, 'SLEEPING');
      const wakeUpAt = sleeping.wake_up_at.getTime();
      // Polling all along, the worker is not handed the run before its wake time …
      await expect(client.result(run.id)).resolves.toBe('awake');
      expect(claimedAt).toHaveLength(2);
      expect(claimedAt[1]!).toBeGreaterThanOrEqual(wakeUpAt);
      // … and gets it promptly after (doorbell or matching's fallback timer, not a long wait).
      expect(claimedAt[1]! - wakeUpAt).toBeLessThan(3_000);
      await expectFinishedAfterEveryWake(h, run.id);

      // A long poll that begins while the run sleeps returns it only once the wake time has passed.
      const raw = await SilentWorker.register(h, { queue, workflowTypes: ['raw-nap'] });
      const rawRun = await client.start('raw-nap', undefined, { queue });
      const first = await raw.claim();
      await raw.completeStep(first, 'before', 0, 'b').expect(200);
      const reply = await raw.sleep(first, 'nap', 1, 1_000).expect(200);
      const rawWake = new Date(reply.body.wakeUpAt).getTime();
      const again = await raw.claim();
      const handedAt = Date.now();
      expect(again.runId).toBe(rawRun.id);
      expect(handedAt).toBeGreaterThanOrEqual(rawWake);
      expect(again.attempt).toBe(1); // waking is not a failed attempt
      expect(again.leaseEpoch).toBe(first.leaseEpoch + 1);
      expect(again.history.map((s) => [s.stepId, s.kind, s.status])).toEqual([
        ['before', 'FUNCTION', 'COMPLETED'],
        ['nap', 'SLEEP', 'COMPLETED'],
      ]);
      await raw.completeWorkflow(again, 'done').expect(200);
      await raw.deregister();
      await expectFinishedAfterEveryWake(h, rawRun.id);
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('watchdog_wakes_sleeping_workflows_in_batches', async () => {
      const queue = h.unique();
      const client = h.client();
      const n = 12; // more than two batches of wakeBatchSize = 5
      // Hold the watchdog back so every sleeper is due for it (past the grace it leaves matching) before its first pass.
      await h.stopApp('watchdog');
      try {
        // A raw worker claims every run and parks it asleep, then stops polling: nobody polls the
        // queue, so matching cannot claim a due sleeper directly and only the watchdog can wake them.
        const parker = await SilentWorker.register(h, { queue, workflowTypes: ['napper'] });
        const runs = await Promise.all(Array.from({ length: n }, () => client.start('napper', undefined, { queue })));
        const ids = runs.map((r) => r.id);
        const tasks = await parker.claimMany(n);
        for (const task of tasks) await parker.sleep(task, 'nap', 0, 1_000).expect(200);
        await parker.deregister();
        await waitFor(
          async () =>
            (
              await h.query(
                `SELECT 1 FROM workflow_runs
                 WHERE id = ANY($1::uuid[]) AND wake_up_at > now() - $2::int * interval '1 millisecond'`,
                [ids, TIMERS.sleeperWakeGraceMs],
              )
            ).length === 0,
          'every sleeper to be due for the watchdog',
        );
        expect(await trueQueueCounts(h, queue)).toEqual({ pending: 0, running: 0, sleeping: n });
        // (and they are the only due sleepers, so the batches hold nothing else)
        const due = await h.query(
          `SELECT count(*)::int AS n FROM workflow_runs WHERE status = 'SLEEPING' AND wake_up_at <= now()`,
        );
        expect(due[0]!.n).toBe(n);

        await h.startApp('watchdog');
        await waitFor(async () => (await trueQueueCounts(h, queue)).pending === n, `all ${n} sleepers woken`);
        // Each batch is one statement with its own now(): the batches are visible as groups of updated_at.
        const groups = await h.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM workflow_runs WHERE id = ANY($1::uuid[]) GROUP BY updated_at ORDER BY n DESC`,
          [ids],
        );
        expect(groups.map((g) => g.n)).toEqual([5, 5, 2]);
        const woke = await h.query(
          `SELECT count(*)::int AS early FROM workflow_runs WHERE id = ANY($1::uuid[]) AND updated_at < wake_up_at`,
          [ids],
        );
        expect(woke[0]!.early).toBe(0);
        expect(await client.queueStats(queue)).toMatchObject({ pending: n, running: 0, sleeping: 0 });

        const finisher = h.worker({ queue, maxConcurrent: 20 });
        finisher.register('napper', async (ctx) => {
          await ctx.sleep('nap', 1_000);
          return 'awake';
        });
        await finisher.start();
        for (const id of ids) await expect(client.result(id)).resolves.toBe('awake');
        for (const id of ids) await expectFinishedAfterEveryWake(h, id);
        const claims = await h.query(`SELECT DISTINCT claims FROM workflow_runs WHERE id = ANY($1::uuid[])`, [ids]);
        expect(claims.map((c) => c.claims)).toEqual([2]);
        expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 0 });
      } finally {
        await h.startApp('watchdog');
      }
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('worker_can_directly_claim_expired_sleeping_workflow', async () => {
      const queue = h.unique();
      const client = h.client();
      const register = (w: ReturnType<TestHarness['worker']>) =>
        w.register('napper', async (ctx) => {
          const first = await ctx.step('first', () => ctx.attempt);
          await ctx.sleep('nap', 2_500); // long enough to stop worker A before it is due
          return first;
        });

      // The watchdog app is not running for this test: only a worker's claim can move a due sleeper.
      await h.stopApp('watchdog');
      try {
        // A sleeper whose wake time passes while no worker polls stays SLEEPING: nothing else moves it …
        const a = register(h.worker({ queue }));
        await a.start();
        const parked = await client.start('napper', undefined, { queue });
        await waitStatus(h, parked.id, 'SLEEPING');
        await a.stop();
        await waitFor(
          async () =>
            (
              await h.query(`SELECT 1 FROM workflow_runs WHERE id = $1 AND wake_up_at < now() - interval '300 ms'`, [
                parked.id,
              ])
            ).length === 1,
          'the wake time to pass',
        );
        expect((await runRow(h, parked.id)).status).toBe('SLEEPING');

        // … and a worker claims it straight from SLEEPING and completes it.
        const b = register(h.worker({ queue }));
        await b.start();
        await expect(client.result(parked.id)).resolves.toBe(1);
        await expectFinishedAfterEveryWake(h, parked.id);
        const row = await runRow(h, parked.id);
        expect(row.claims).toBe(2);
        expect(row.attempt).toBe(1);

        // With the worker polling throughout, a new sleeper is claimed as it comes due.
        const live = await client.start('napper', undefined, { queue });
        await waitStatus(h, live.id, 'SLEEPING');
        await expect(client.result(live.id)).resolves.toBe(1);
        await expectFinishedAfterEveryWake(h, live.id);
        expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 0 });
      } finally {
        await h.startApp('watchdog');
      }
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_step_replay_skips_execution', async () => {
      const queue = h.unique();
      const client = h.client();
      let invocations = 0;
      let charged = 0;
      const afterSleep: number[] = [];
      const worker = h.worker({ queue });
      worker.register('charge-then-nap', async (ctx) => {
        invocations++;
        const receipt = await ctx.step('charge', () => {
          charged++;
          return { receipt: `r-${charged}` };
        });
        await ctx.sleep('cool-off', 1_000);
        afterSleep.push(Date.now());
        return receipt;
      });
      await worker.start();
      const run = await client.start('charge-then-nap', undefined, { queue });
      await expect(client.result(run.id)).resolves.toEqual({ receipt: 'r-1' });
      // The handler ran twice (before and after the sleep), the step body once, and the replayed
      // sleep returned at once: no second suspension (two claims in all), code after it ran once.
      expect(invocations).toBe(2);
      expect(charged).toBe(1);
      expect(afterSleep).toHaveLength(1);
      const row = await runRow(h, run.id);
      expect(row.claims).toBe(2);
      expect(row.attempt).toBe(1);
      const steps = await client.steps(run.id);
      expect(steps.map((s) => [s.stepId, s.kind, s.status])).toEqual([
        ['charge', 'FUNCTION', 'COMPLETED'],
        ['cool-off', 'SLEEP', 'COMPLETED'],
      ]);
      expect(afterSleep[0]!).toBeGreaterThanOrEqual(steps[1]!.wakeUpAt!.getTime());
      await expectFinishedAfterEveryWake(h, run.id);
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });

  describe('4.3 sleep edge cases', () => {
    test('multiple_sleeps_in_sequence', async () => {
      const queue = h.unique();
      const client = h.client();
      let invocations = 0;
      const executed: Record<string, number> = {};
      const worker = h.worker({ queue });
      worker.register('three-naps', async (ctx) => {
        invocations++;
        const at = (id: string) =>
          ctx.step(id, () => {
            executed[id] = (executed[id] ?? 0) + 1;
            return Date.now();
          });
        const t1 = await at('s1');
        await ctx.sleep('nap1', 700);
        const t2 = await at('s2');
        await ctx.sleep('nap2', 500);
        const t3 = await at('s3');
        await ctx.sleep('nap3', 300);
        return { t1, t2, t3, t4: Date.now() };
      });
      await worker.start();
      const run = await client.start('three-naps', undefined, { queue });
      const out = (await client.result(run.id)) as { t1: number; t2: number; t3: number; t4: number };

      expect(executed).toEqual({ s1: 1, s2: 1, s3: 1 });
      expect(invocations).toBe(4);
      const row = await runRow(h, run.id);
      expect(row.claims).toBe(4);
      expect(row.attempt).toBe(1);
      const steps = await client.steps(run.id);
      expect(steps.map((s) => [s.seq, s.stepId, s.kind, s.status])).toEqual([
        [0, 's1', 'FUNCTION', 'COMPLETED'],
        [1, 'nap1', 'SLEEP', 'COMPLETED'],
        [2, 's2', 'FUNCTION', 'COMPLETED'],
        [3, 'nap2', 'SLEEP', 'COMPLETED'],
        [4, 's3', 'FUNCTION', 'COMPLETED'],
        [5, 'nap3', 'SLEEP', 'COMPLETED'],
      ]);
      for (const [id, ms] of [
        ['nap1', 700],
        ['nap2', 500],
        ['nap3', 300],
      ] as const) {
        expect(Number((await sleepStep(h, run.id, id))!.slept_ms)).toBe(ms);
      }
      // Each stretch of code ran only after the sleep before it was over.
      const wake = (id: string) => steps.find((s) => s.stepId === id)!.wakeUpAt!.getTime();
      expect(out.t2).toBeGreaterThanOrEqual(wake('nap1'));
      expect(out.t3).toBeGreaterThanOrEqual(wake('nap2'));
      expect(out.t4).toBeGreaterThanOrEqual(wake('nap3'));
      expect(wake('nap1')).toBeLessThan(wake('nap2'));
      expect(wake('nap2')).toBeLessThan(wake('nap3'));
      await expectFinishedAfterEveryWake(h, run.id);
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_with_worker_death_mid_sleep', async () => {
      const queue = h.unique();
      const client = h.client();
      let beforeBodies = 0;
      const finisher = () => {
        const w = h.worker({ queue });
        w.register('survivor', async (ctx) => {
          const by = await ctx.step('before', () => {
            beforeBodies++;
            return 'B';
          });
          await ctx.sleep('nap', 1_000);
          const after = await ctx.step('after', () => ctx.attempt);
          return { by, after };
        });
        return w;
      };

      // Worker A (raw protocol) runs the step, parks the run, then dies: no heartbeat, no deregister.
      const a = await SilentWorker.register(h, { queue, workflowTypes: ['survivor'] });
      const run = await client.start('survivor', undefined, { queue });
      const task = await a.claim();
      await a.completeStep(task, 'before', 0, 'A').expect(200);
      await a.sleep(task, 'nap', 1, 1_000).expect(200);
      // The watchdog notices A is gone (stale → OFFLINE); the sleeping run holds no lease, so it is not "lost".
      await waitFor(
        async () => (await h.query(`SELECT 1 FROM workers WHERE id = $1 AND status = 'OFFLINE'`, [a.id])).length === 1,
        'worker A to be marked OFFLINE',
      );
      const parked = await runRow(h, run.id);
      expect(['SLEEPING', 'PENDING']).toContain(parked.status);
      expect(parked.attempt).toBe(1);

      // Worker B takes it over after the wake time and finishes it; A's step is not run again.
      const b = finisher();
      await b.start();
      await expect(client.result(run.id)).resolves.toEqual({ by: 'A', after: 1 });
      expect(beforeBodies).toBe(0);
      const done = await runRow(h, run.id);
      expect(done.locked_by).toBeNull();
      expect(done.claims).toBe(2);
      await expectFinishedAfterEveryWake(h, run.id);
      await b.stop();

      // The same with SDK workers: A is stopped while its run sleeps, B completes it.
      const sdkA = finisher();
      await sdkA.start();
      const second = await client.start('survivor', undefined, { queue });
      const sleeping = await waitStatus(h, second.id, 'SLEEPING');
      const aId = sdkA.workerId;
      await sdkA.stop();
      expect((await h.query(`SELECT status FROM workers WHERE id = $1`, [aId]))[0]!.status).toBe('OFFLINE');
      const sdkB = finisher();
      await sdkB.start();
      await expect(client.result(second.id)).resolves.toEqual({ by: 'B', after: 1 });
      const secondRow = await runRow(h, second.id);
      expect(secondRow.finished_at.getTime()).toBeGreaterThanOrEqual(sleeping.wake_up_at.getTime());
      expect(beforeBodies).toBe(1);
      await expectFinishedAfterEveryWake(h, second.id);
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('sleep_during_worker_shutdown_completes_step', async () => {
      const queue = h.unique();
      const client = h.client();
      const reachedSleep = deferred();
      const proceed = deferred();
      const a = h.worker({ queue });
      a.register('graceful', async (ctx) => {
        const first = await ctx.step('first', () => 'A');
        reachedSleep.resolve();
        await proceed.promise;
        await ctx.sleep('nap', 2_000);
        return first;
      });
      await a.start();
      const run = await client.start('graceful', undefined, { queue });
      await reachedSleep.promise;

      // Shutdown begins while the handler is on its way into ctx.sleep: the sleep is still recorded.
      const stopping = a.stop();
      proceed.resolve();
      await stopping;
      const row = await runRow(h, run.id);
      expect(row.status).toBe('SLEEPING');
      expect(row.locked_by).toBeNull();
      expect(row.attempt).toBe(1);
      const step = await sleepStep(h, run.id, 'nap');
      expect(step).toMatchObject({ kind: 'SLEEP', seq: 1 });
      expect(Number(step!.slept_ms)).toBe(2_000);
      expect((await h.query(`SELECT status FROM workers WHERE id = $1`, [a.workerId]))[0]!.status).toBe('OFFLINE');

      // Another worker finishes the run after the wake time, with the first step's stored output.
      let firstBodies = 0;
      const b = h.worker({ queue });
      b.register('graceful', async (ctx) => {
        const first = await ctx.step('first', () => {
          firstBodies++;
          return 'B';
        });
        await ctx.sleep('nap', 2_000);
        return first;
      });
      await b.start();
      await expect(client.result(run.id)).resolves.toBe('A');
      expect(firstBodies).toBe(0);
      expect((await runRow(h, run.id)).claims).toBe(2);
      await expectFinishedAfterEveryWake(h, run.id);
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });
});
