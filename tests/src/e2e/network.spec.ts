import { BatonError, Transport } from '@baton/sdk';
import { TestHarness, deferred, rawCall, waitFor } from '../index';
import { claimsOf, installClaimAudit } from '../harness/claim-audit';
import { portOpen } from '../harness/services';
import type { TcpProxy } from '../harness/tcp-proxy';

/** Runs of a queue that are RUNNING with nobody's live lease: must never exist after things settle. */
async function unownedRunning(h: TestHarness, queue: string) {
  return h.query(
    `SELECT id FROM workflow_runs WHERE task_queue = $1 AND status = 'RUNNING'
       AND (locked_by IS NULL OR locked_until < now())`,
    [queue],
  );
}

async function workerStatus(h: TestHarness, workerId: string): Promise<string | undefined> {
  const [row] = await h.query(`SELECT status FROM workers WHERE id = $1`, [workerId]);
  return row?.status as string | undefined;
}

/** An error the SDK reports when the link to the frontend is gone (not a server's answer). */
const isLinkError = (err: unknown) =>
  err instanceof BatonError && (err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED');

describe('6.3 Network failure simulation', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // A blip lasts a fraction of the stale threshold (it must cost no registration); a worker cut off
    // until the watchdog declares it gone is what makes it register again. A frontend restart fits in
    // the lease many times over, so a run held across one keeps its lease.
    h = await TestHarness.start({ leaseDurationSecs: 10, workerStaleThresholdSecs: 8 });
    await installClaimAudit(h);
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('worker_reconnects_after_network_blip', async () => {
    const queue = h.unique();
    const link = await h.proxy();
    const errors: unknown[] = [];
    const worker = h.worker({ address: link.address, queue, onError: (err) => errors.push(err) });
    worker.register('echo', async (ctx, input: number) => ctx.step('echo', () => input));
    await worker.start();
    const workerId = worker.workerId!;
    const client = h.client();
    const before = await client.start('echo', 1, { queue });
    await expect(client.result(before.id)).resolves.toBe(1);

    // The link breaks under the worker's open polls and heartbeats: its connections are torn down on both
    // sides and the address refuses new ones.
    const up = link.stats();
    expect(up.open).toBeGreaterThan(0);
    expect(up.bytesDown).toBeGreaterThan(0);
    const errorsBefore = errors.length;
    link.cut();
    expect(link.stats()).toMatchObject({ open: 0, cut: up.open });
    expect(await portOpen('127.0.0.1', link.port)).toBe(false);
    await waitFor(() => errors.slice(errorsBefore).some(isLinkError), 'the worker to see the link go down');

    // A run started meanwhile (straight to the frontend) can only wait for the worker.
    const during = await client.start('echo', 2, { queue });
    const down = link.stats();
    await link.restore();

    await expect(client.result(during.id)).resolves.toBe(2);
    const after = await client.start('echo', 3, { queue });
    await expect(client.result(after.id)).resolves.toBe(3);
    // It came back through the same address: new connections, traffic both ways after the restore.
    const restored = link.stats();
    expect(restored.accepted).toBeGreaterThan(down.accepted);
    expect(restored.bytesUp).toBeGreaterThan(down.bytesUp);
    expect(restored.bytesDown).toBeGreaterThan(down.bytesDown);
    // The blip cost it nothing: same registration, still ONLINE, and every claim went to it.
    expect(worker.workerId).toBe(workerId);
    expect(await workerStatus(h, workerId)).toBe('ONLINE');
    const claims = await claimsOf(h, { runIds: [before.id, during.id, after.id] });
    expect(claims.map((c) => c.worker_id)).toEqual(claims.map(() => workerId));
    expect(await unownedRunning(h, queue)).toHaveLength(0);
  });

  test('in_flight_rpc_timeout_doesnt_corrupt_state', async () => {
    const queue = h.unique();
    const link = await h.proxy();
    const rpc = new Transport(link.address);
    const client = h.client();

    /**
     * Sends one call through the link with its reply lost: the request reaches the server, which applies
     * it (`applied` reads the database) and answers; the answer is thrown away, then the link breaks.
     * Resolves to what the caller got: never the answer, only a transport error.
     */
    async function replyLost(method: string, body: object, applied: () => Promise<boolean>): Promise<unknown> {
      const droppedBefore = link.stats().droppedDown;
      link.dropReplies();
      let answered = false;
      const call = rawCall(rpc, 'worker', method, body).then(
        (res: unknown) => {
          answered = true;
          return res;
        },
        (err: unknown) => err,
      );
      await waitFor(
        async () => (await applied()) && link.stats().droppedDown > droppedBefore,
        `${method} to be applied and its reply dropped`,
      );
      // The server is done with it, and the caller still does not know.
      expect(answered).toBe(false);
      link.cut();
      await link.restore();
      const outcome = await call;
      expect(isLinkError(outcome)).toBe(true);
      return outcome;
    }

    try {
      const { workerId } = await rpc.call('worker', 'Register', {
        namespace: 'default',
        queue,
        workflowTypes: ['raw'],
        maxConcurrent: 5,
        hostname: 'raw',
        pid: 1,
      });
      const run = await client.start('raw', undefined, { queue });
      const { task } = await rpc.call('worker', 'PollTask', {
        namespace: 'default',
        queue,
        workerId,
        workflowTypes: ['raw'],
      });
      expect(task!.runId).toBe(run.id);
      // Acknowledge the claim, as the SDK does on receipt: the lease is now the full one.
      await rpc.call('worker', 'Heartbeat', { namespace: 'default', workerId, activeRunIds: [run.id] });
      const lease = {
        namespace: 'default',
        runId: run.id,
        workerId,
        leaseEpoch: task!.leaseEpoch,
        leaseToken: task!.leaseToken,
      };
      const output = { data: Buffer.from('"ok"'), encoding: 'json' };
      const stepRows = () =>
        h.query(`SELECT status, attempt, output, finished_at FROM step_runs WHERE run_id = $1`, [run.id]);
      const runRow = async () =>
        (
          await h.query(
            `SELECT r.status, r.attempt, r.claims, r.lease_epoch, r.locked_by, r.finished_at, r.error_message, p.output
             FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1`,
            [run.id],
          )
        )[0]!;

      // CompleteStep applied, reply lost; the repeat is accepted and changes nothing.
      await replyLost('CompleteStep', { lease, stepId: 's', seq: 0, output }, async () =>
        (await stepRows()).some((s) => s.status === 'COMPLETED'),
      );
      const stepAfterFirst = await stepRows();
      expect(stepAfterFirst).toEqual([
        { status: 'COMPLETED', attempt: 1, output: Buffer.from('"ok"'), finished_at: expect.any(Date) },
      ]);
      await rpc.call('worker', 'CompleteStep', { lease, stepId: 's', seq: 0, output });
      expect(await stepRows()).toEqual(stepAfterFirst);

      // CompleteWorkflow applied, reply lost; the repeat finds the run finished (the SDK takes that as done)
      // and the run is exactly as the first call left it.
      await replyLost('CompleteWorkflow', { lease, output }, async () => (await runRow()).status === 'COMPLETED');
      const runAfterFirst = await runRow();
      expect(runAfterFirst).toMatchObject({ status: 'COMPLETED', attempt: 1, claims: 1, locked_by: null });
      const repeat = await rpc.call('worker', 'CompleteWorkflow', { lease, output }).then(
        () => 'accepted',
        (err: unknown) => err,
      );
      if (repeat !== 'accepted') expect(repeat).toMatchObject({ reason: 'RUN_TERMINAL' });
      expect(await runRow()).toEqual(runAfterFirst);
      await expect(client.result(run.id)).resolves.toBe('ok');

      // A poll whose reply is lost: the server claimed a run for a caller that never heard of it. The claim
      // comes back by itself and a real worker finishes the run, once.
      const lost = await client.start('raw', undefined, { queue });
      await replyLost('PollTask', { namespace: 'default', queue, workerId, workflowTypes: ['raw'] }, async () => {
        const [row] = await h.query(`SELECT claims, locked_by FROM workflow_runs WHERE id = $1`, [lost.id]);
        return row!.claims === 1 && row!.locked_by === workerId;
      });
      const worker = h.worker({ queue });
      let executions = 0;
      worker.register('raw', async () => {
        executions++;
        return 'rescued';
      });
      await worker.start();
      await expect(client.result(lost.id)).resolves.toBe('rescued');
      expect(executions).toBe(1);
      // Claimed twice, executed once, and the undelivered claim cost the run no attempt (DESIGN §13).
      const [rescued] = await h.query(`SELECT status, claims, attempt FROM workflow_runs WHERE id = $1`, [lost.id]);
      expect(rescued).toEqual({ status: 'COMPLETED', claims: 2, attempt: 1 });
      expect((await claimsOf(h, { runIds: [lost.id] })).map((c) => c.worker_id)).toEqual([workerId, worker.workerId]);
      expect(await unownedRunning(h, queue)).toHaveLength(0);
    } finally {
      rpc.close();
    }
  });

  test('server_restart_workers_reregister', async () => {
    // The frontend runs as its own process on the deployment's ports, so it can really die.
    await h.stopApp('frontend');
    const frontend = h.spawnApp('frontend');
    let link: TcpProxy | undefined;
    try {
      await frontend.ready();
      // The worker reaches it through a link the test can also cut (phase 2).
      link = await h.proxy();
      const queue = h.unique();
      const errors: unknown[] = [];
      const entered = deferred();
      const release = deferred();
      const worker = h.worker({ address: link.address, queue, onError: (err) => errors.push(err) });
      worker.register('echo', async (_ctx, input: string) => input);
      worker.register('held', async (_ctx, input: string) => {
        entered.resolve();
        await release.promise;
        return input;
      });
      await worker.start();
      const firstId = worker.workerId!;
      const client = h.client();
      await expect(client.result((await client.start('echo', 'before', { queue })).id)).resolves.toBe('before');

      // Phase 1: SIGKILL the frontend while the worker holds a run, then start a new process on the same port.
      const held = await client.start('held', 'held', { queue });
      await entered.promise;
      const firstPid = frontend.pid;
      const errorsBefore = errors.length;
      expect(await frontend.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
      expect(await portOpen('127.0.0.1', h.config.grpcPort)).toBe(false);
      await waitFor(() => errors.slice(errorsBefore).some(isLinkError), 'the worker to lose the frontend');
      frontend.start();
      await frontend.ready();
      expect(frontend.pid).not.toBe(firstPid);

      release.resolve();
      await expect(client.result(held.id)).resolves.toBe('held');
      await expect(client.result((await client.start('echo', 'after kill', { queue })).id)).resolves.toBe('after kill');
      // A live worker is never declared gone for the server's crash: it kept its id, and the run it held
      // kept its lease (one claim, one attempt).
      expect(worker.workerId).toBe(firstId);
      expect(await workerStatus(h, firstId)).toBe('ONLINE');
      const [heldRow] = await h.query(`SELECT status, attempt, claims FROM workflow_runs WHERE id = $1`, [held.id]);
      expect(heldRow).toEqual({ status: 'COMPLETED', attempt: 1, claims: 1 });

      // Phase 2: the worker is cut off while the deployment is up until the watchdog declares it gone, and
      // the frontend is killed and restarted once more. Back on the link, the worker is told to register
      // again and does: a new id (its old row stays OFFLINE, DESIGN §3), and it takes work under it.
      link.cut();
      await waitFor(async () => (await workerStatus(h, firstId)) === 'OFFLINE', 'the cut-off worker to go OFFLINE', {
        timeoutMs: h.config.workerStaleThresholdMs + 3 * h.config.watchdogIntervalMs + 15_000,
      });
      expect(await frontend.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
      frontend.start();
      await frontend.ready();
      const queued = await client.start('echo', 'after re-register', { queue });
      await link.restore();
      await expect(client.result(queued.id)).resolves.toBe('after re-register');
      const secondId = worker.workerId!;
      expect(secondId).not.toBe(firstId);
      expect(await workerStatus(h, firstId)).toBe('OFFLINE');
      expect(await workerStatus(h, secondId)).toBe('ONLINE');
      const claims = await claimsOf(h, { runIds: [queued.id] });
      expect(claims.map((c) => c.worker_id)).toEqual(claims.map(() => secondId));
      expect(await unownedRunning(h, queue)).toHaveLength(0);
    } finally {
      await link?.restore();
      await frontend.kill();
      await h.startApp('frontend');
    }
  });
});
