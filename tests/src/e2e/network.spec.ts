import { Transport } from '@baton/sdk';
import type { BatonError } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';

/** Runs of a queue that are RUNNING with nobody's live lease: must never exist after things settle. */
async function unownedRunning(h: TestHarness, queue: string) {
  return h.query(
    `SELECT id FROM workflow_runs WHERE task_queue = $1 AND status = 'RUNNING'
       AND (locked_by IS NULL OR locked_until < now())`,
    [queue],
  );
}

describe('6.3 Network failure simulation', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ leaseDurationSecs: 3 });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('worker_reconnects_after_network_blip', async () => {
    const queue = h.unique();
    const errors: unknown[] = [];
    const worker = h.worker({ queue, onError: (err) => errors.push(err) });
    worker.register('echo', async (ctx, input: number) => ctx.step('echo', () => input));
    await worker.start();
    const client = h.client();
    const before = await client.start('echo', 1, { queue });
    await expect(client.result(before.id)).resolves.toBe(1);

    // The API goes away under the worker's open polls, then comes back on the same address.
    await h.stopApp('frontend');
    await waitFor(() => errors.length > 0, 'the worker to notice the outage');
    await h.startApp('frontend');

    const after = await client.start('echo', 2, { queue });
    await expect(client.result(after.id)).resolves.toBe(2);
    expect((await client.get(after.id)).lockedBy).toBeNull();
  });

  test('in_flight_rpc_timeout_doesnt_corrupt_state', async () => {
    const queue = h.unique();
    const rpc = new Transport(h.grpcAddress);
    try {
      const { workerId } = await rpc.call('worker', 'Register', {
        namespace: 'default',
        queue,
        workflowTypes: ['raw'],
        maxConcurrent: 5,
        hostname: 'raw',
        pid: 1,
      });
      const client = h.client();
      const run = await client.start('raw', undefined, { queue });
      const { task } = await rpc.call('worker', 'PollTask', {
        namespace: 'default',
        queue,
        workerId,
        workflowTypes: ['raw'],
      });
      const lease = { namespace: 'default', runId: run.id, workerId, leaseEpoch: task.leaseEpoch };
      const output = { data: Buffer.from('"ok"'), encoding: 'json' };

      // Each mutation first times out on the client (the server may or may not have applied it), then is repeated.
      const timedOut = (method: string, body: object) =>
        rpc.call('worker', method, body, { timeoutMs: 1 }).then(
          () => 'applied',
          (err: BatonError) => err.code,
        );
      expect(['applied', 'DEADLINE_EXCEEDED']).toContain(
        await timedOut('CompleteStep', { lease, stepId: 's', seq: 0, output }),
      );
      await rpc.call('worker', 'CompleteStep', { lease, stepId: 's', seq: 0, output });
      expect(['applied', 'DEADLINE_EXCEEDED']).toContain(await timedOut('CompleteWorkflow', { lease, output }));
      await rpc.call('worker', 'CompleteWorkflow', { lease, output }).catch((err: BatonError) => {
        // The first try went through and only its reply was lost: the run is already finished.
        expect(err.reason).toBe('RUN_TERMINAL');
      });

      expect(await h.query(`SELECT status, attempt FROM step_runs WHERE run_id = $1`, [run.id])).toEqual([
        { status: 'COMPLETED', attempt: 1 },
      ]);
      await expect(client.result(run.id)).resolves.toBe('ok');

      // Polls whose callers give up mid-flight: whatever they claimed comes back and a real worker finishes it.
      const orphanable = await client.start('raw', undefined, { queue });
      for (let i = 0; i < 5; i++) {
        await rpc
          .call(
            'worker',
            'PollTask',
            { namespace: 'default', queue, workerId, workflowTypes: ['raw'] },
            { timeoutMs: 20 },
          )
          .catch(() => undefined);
      }
      const worker = h.worker({ queue });
      worker.register('raw', async () => 'rescued');
      await worker.start();
      await expect(client.result(orphanable.id)).resolves.toBe('rescued');
      expect(await unownedRunning(h, queue)).toHaveLength(0);
    } finally {
      rpc.close();
    }
  });

  test('server_restart_workers_reregister', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('echo', async (_ctx, input: string) => input);
    await worker.start();
    const firstId = worker.workerId;
    const client = h.client();
    await expect(client.result((await client.start('echo', 'before', { queue })).id)).resolves.toBe('before');

    // Restart every service; while they were down the worker was declared gone.
    for (const app of ['frontend', 'matching', 'scheduler', 'watchdog'] as const) await h.stopApp(app);
    await h.query(`UPDATE workers SET status = 'OFFLINE' WHERE id = $1`, [firstId]);
    for (const app of ['frontend', 'matching', 'scheduler', 'watchdog'] as const) await h.startApp(app);

    const run = await client.start('echo', 'after', { queue });
    await expect(client.result(run.id)).resolves.toBe('after');
    // It registered again: a new ONLINE worker row, and the run went to it.
    expect(worker.workerId).not.toBe(firstId);
    const [row] = await h.query(`SELECT status FROM workers WHERE id = $1`, [worker.workerId]);
    expect(row!.status).toBe('ONLINE');
  });
});
