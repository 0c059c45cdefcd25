import { TestHarness, waitFor } from '../index';
import { BatonError, Transport } from '@baton/sdk';
import { expectNoOwnerlessRunningRuns } from '../harness/assertions';
import { SilentWorker } from '../harness/silent-worker';

const STALE_MS = 2_000;
const WATCHDOG_MS = 1_000;

async function workerRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workers WHERE id = $1`, [id]);
  return row!;
}

function waitOffline(h: TestHarness, id: string, timeoutMs = 10_000) {
  return waitFor(
    async () => {
      const row = await workerRow(h, id);
      return row.status === 'OFFLINE' ? row : null;
    },
    `worker ${id} to be OFFLINE`,
    { timeoutMs },
  );
}

/** Heartbeats every 300 ms until stopped, as a live worker does. */
function keepBeating(worker: SilentWorker, runIds: () => string[] = () => []) {
  const timer = setInterval(() => void worker.heartbeat(runIds()).catch(() => undefined), 300);
  return () => clearInterval(timer);
}

describe('1. Worker lifecycle: health', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // A long lease and a short stale threshold: here the worker's silence decides, long before its leases.
    h = await TestHarness.start({
      workerStaleThresholdSecs: STALE_MS / 1000,
      leaseDurationSecs: 60,
      heartbeatIntervalSecs: 0.5,
      watchdogIntervalSecs: WATCHDOG_MS / 1000,
    });
  });

  afterAll(() => h?.stop());

  describe('1.1 registration & deregistration', () => {
    test('worker_offline_after_missed_heartbeats', async () => {
      const queue = h.unique();
      const worker = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });

      // Heartbeating keeps it ONLINE well past the stale threshold …
      const stop = keepBeating(worker);
      try {
        await waitFor(
          async () =>
            (
              await h.query(`SELECT 1 FROM workers WHERE id = $1 AND registered_at < now() - interval '3 seconds'`, [
                worker.id,
              ])
            ).length === 1,
          'the worker to have lived past the stale threshold',
        );
        expect((await workerRow(h, worker.id)).status).toBe('ONLINE');
      } finally {
        stop();
      }
      // … and once heartbeats stop, it goes OFFLINE after the threshold (not before), within a watchdog pass.
      const offline = await waitOffline(h, worker.id);
      const last = offline.last_heartbeat_at.getTime();
      expect(offline.updated_at.getTime() - last).toBeGreaterThanOrEqual(STALE_MS);
      expect(offline.updated_at.getTime() - last).toBeLessThan(STALE_MS + WATCHDOG_MS + 1_500);
      expect(offline.active_count).toBe(0);
      const view = await h.http().get(`/v1/namespaces/default/workers/${worker.id}`).expect(200);
      expect(view.body.status).toBe('OFFLINE');

      // An OFFLINE worker is told to register again, and gets no work until it does.
      const beat = await worker.heartbeat().expect(200);
      expect(beat.body.action).toBe('REREGISTER');
      const poll = await h
        .http()
        .post(`/v1/namespaces/default/workers/${worker.id}/poll`)
        .send({ queue, workflowTypes: ['job'] })
        .expect(409);
      expect(poll.body.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'WORKER_REREGISTER' });

      // An SDK worker, heartbeating on its own, stays ONLINE over the same span.
      const sdk = h.worker({ queue });
      sdk.register('job', async () => 'ok');
      await sdk.start();
      await waitFor(
        async () =>
          (
            await h.query(`SELECT 1 FROM workers WHERE id = $1 AND registered_at < now() - interval '3 seconds'`, [
              sdk.workerId,
            ])
          ).length === 1,
        'the SDK worker to have lived past the stale threshold',
      );
      expect((await workerRow(h, sdk.workerId!)).status).toBe('ONLINE');
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });

  describe('1.2 heartbeat & health', () => {
    test('stale_worker_detected_by_watchdog', async () => {
      const queue = h.unique();
      // Without the watchdog nobody marks a silent worker stale …
      await h.stopApp('watchdog');
      let silent: SilentWorker;
      let control: SilentWorker;
      let stopControl: (() => void) | undefined;
      try {
        silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
        control = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
        stopControl = keepBeating(control);
        await waitFor(
          async () =>
            (
              await h.query(
                `SELECT 1 FROM workers WHERE id = $1 AND last_heartbeat_at < now() - interval '3 seconds'`,
                [silent.id],
              )
            ).length === 1,
          'the silent worker to be past the stale threshold',
        );
        expect((await workerRow(h, silent.id)).status).toBe('ONLINE');
      } finally {
        await h.startApp('watchdog');
      }
      try {
        // … the watchdog does, on its first pass, and leaves the heartbeating worker alone.
        const stale = await waitOffline(h, silent!.id, 3_000);
        expect(stale.active_count).toBe(0);
        expect((await workerRow(h, control!.id)).status).toBe('ONLINE');
        const offline = await h
          .http()
          .get(`/v1/namespaces/default/workers`)
          .query({ queue, status: 'OFFLINE' })
          .expect(200);
        expect(offline.body.workers.map((w: { id: string }) => w.id)).toEqual([silent!.id]);
        const online = await h
          .http()
          .get(`/v1/namespaces/default/workers`)
          .query({ queue, status: 'ONLINE' })
          .expect(200);
        expect(online.body.workers.map((w: { id: string }) => w.id)).toEqual([control!.id]);
      } finally {
        stopControl?.();
      }
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('stale_worker_workflows_rescheduled', async () => {
      const queue = h.unique();
      const client = h.client();
      const stale = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      const runs = [await client.start('job', 'one', { queue }), await client.start('job', 'two', { queue })];
      const tasks = await stale.claimMany(2);
      const ids = tasks.map((t) => t.runId);
      expect(new Set(ids)).toEqual(new Set(runs.map((r) => r.id)));
      // One heartbeat for both (the lease is 60 s), then silence.
      const beat = await stale.heartbeat(ids).expect(200);
      expect(beat.body).toMatchObject({ action: 'OK', cancelledRunIds: [] });
      const held = await h.query(`SELECT id, locked_until FROM workflow_runs WHERE id = ANY($1::uuid[])`, [ids]);
      const leaseEnd = Math.min(...held.map((r) => r.locked_until.getTime()));
      expect(leaseEnd - Date.now()).toBeGreaterThan(50_000);

      // The worker turns stale: its runs are claimable at once (no backoff), attempt + 1, long before the lease ends.
      await waitOffline(h, stale.id);
      const freed = await h.query(`SELECT * FROM workflow_runs WHERE id = ANY($1::uuid[]) AND status = 'PENDING'`, [
        ids,
      ]);
      expect(freed).toHaveLength(2);
      for (const row of freed) {
        expect(row.locked_by).toBeNull();
        expect(row.attempt).toBe(2);
        // A recovery, not a failure: it has its own count and reason, and invents no error.
        expect(row).toMatchObject({
          recoveries: 1,
          last_recovery_reason: 'worker stopped heartbeating',
          error_type: null,
        });
        expect(row.available_at.getTime()).toBe(row.updated_at.getTime());
        expect(row.updated_at.getTime()).toBeLessThan(leaseEnd - 50_000);
      }
      expect(await client.queueStats(queue)).toMatchObject({ pending: 2, running: 0 });

      // Another worker completes them.
      const attempts: number[] = [];
      const healthy = h.worker({ queue });
      healthy.register('job', async (ctx, input: string) => {
        attempts.push(ctx.attempt);
        return `${input} by healthy`;
      });
      await healthy.start();
      await expect(client.result(runs[0]!.id)).resolves.toBe('one by healthy');
      await expect(client.result(runs[1]!.id)).resolves.toBe('two by healthy');
      expect(attempts).toEqual([2, 2]);
      const finished = await h.query(`SELECT max(finished_at) AS at FROM workflow_runs WHERE id = ANY($1::uuid[])`, [
        ids,
      ]);
      expect(finished[0]!.at.getTime()).toBeLessThan(leaseEnd - 40_000);

      // The stale worker comes back: told to re-register, its runs reported as lost, its late completion refused.
      const grpc = new Transport(h.grpcAddress);
      try {
        const res = await grpc.call('worker', 'Heartbeat', {
          namespace: 'default',
          workerId: stale.id,
          activeRunIds: ids,
        });
        expect(res.action).toBe('REREGISTER');
        expect(new Set(res.cancelledRunIds)).toEqual(new Set(ids));
        const late = await grpc
          .call('worker', 'CompleteWorkflow', {
            lease: {
              namespace: 'default',
              runId: tasks[0]!.runId,
              workerId: stale.id,
              leaseEpoch: tasks[0]!.leaseEpoch,
              leaseToken: tasks[0]!.leaseToken,
            },
          })
          .catch((e: unknown) => e);
        expect(late).toBeInstanceOf(BatonError);
        expect((late as BatonError).code).toBe('FAILED_PRECONDITION');
      } finally {
        grpc.close();
      }
      const lateHttp = await stale.completeWorkflow(tasks[1]!, 'late').expect(409);
      expect(lateHttp.body.error.code).toBe('FAILED_PRECONDITION');
      for (const run of runs) {
        const view = await client.get(run.id);
        expect(view.status).toBe('COMPLETED');
        expect(String(view.output)).toMatch(/by healthy$/);
      }
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });
});
