import { RunsRepository, Sql, createDataSource } from '@baton/persistence';
import { BatonError, CancelledError, Transport } from '@baton/sdk';
import type { Worker, WorkflowContext } from '@baton/sdk';
import { ProtocolWorker } from '../harness/protocol-worker';
import type { PolledTask } from '../harness/protocol-worker';
import { TestHarness, deferred, waitFor } from '../index';

/*
 * Cancelling a RUNNING run pushes its id to the worker's cancellation feed
 * (WatchCancellations, or the HTTP long poll), so the handler's ctx.signal
 * aborts at once; the heartbeat stays the fallback. To prove the push, the
 * main harness heartbeats once a minute: within the 10 s deadlines below only
 * the push can have delivered the cancel.
 */

const PUSH_DEADLINE_MS = 10_000;

/** Open cancellation feeds on the frontend at `httpUrl`, from its /metrics. */
async function openFeeds(httpUrl: string): Promise<number> {
  const res = await fetch(`${httpUrl}/metrics`);
  const text = await res.text();
  const line = /^baton_cancellation_feeds(?:\{[^}]*\})? (\d+)$/m.exec(text);
  if (!line) throw new Error('no baton_cancellation_feeds in /metrics');
  return Number(line[1]);
}

/** A handler that waits for its ctx.signal and tells when (and why) it aborted. */
function heldHandler() {
  const entered = new Map<string, ReturnType<typeof deferred<void>>>();
  const aborted = new Map<string, ReturnType<typeof deferred<{ reason: unknown; at: number }>>>();
  const slot = <T>(map: Map<string, T>, runId: string, make: () => T) => {
    if (!map.has(runId)) map.set(runId, make());
    return map.get(runId)!;
  };
  const handler = async (ctx: WorkflowContext) => {
    const abort = slot(aborted, ctx.runId, () => deferred<{ reason: unknown; at: number }>());
    ctx.signal.addEventListener('abort', () => abort.resolve({ reason: ctx.signal.reason, at: Date.now() }));
    slot(entered, ctx.runId, () => deferred()).resolve();
    await abort.promise;
    return 'ignored';
  };
  return {
    handler,
    entered: (runId: string) => slot(entered, runId, () => deferred()).promise,
    aborted: (runId: string) => slot(aborted, runId, () => deferred<{ reason: unknown; at: number }>()).promise,
  };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The run is RUNNING, held by `workerId` and acknowledged: no heartbeat reply still in flight can carry its cancel. */
async function heldAndAcknowledged(h: TestHarness, runId: string, workerId: string): Promise<void> {
  await waitFor(async () => {
    const [row] = await h.query(`SELECT status, locked_by, delivered FROM workflow_runs WHERE id = $1`, [runId]);
    return row?.status === 'RUNNING' && row.locked_by === workerId && row.delivered === true;
  }, `run ${runId} to be held and acknowledged by ${workerId}`);
}

describe('cancellation pushed to the worker', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ heartbeatIntervalSecs: 60, workerStaleThresholdSecs: 120, leaseDurationSecs: 120 });
  });

  afterAll(async () => {
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  /** A started SDK worker running heldHandler() on its own queue, its feed open on the frontend. */
  async function heldWorker(httpUrl = h.httpUrl) {
    const queue = h.unique();
    const held = heldHandler();
    const worker = h.worker({ queue });
    worker.register('held', held.handler);
    const before = await openFeeds(httpUrl);
    await worker.start();
    await waitFor(async () => (await openFeeds(httpUrl)) > before, 'the worker to open its cancellation feed');
    return { queue, held, worker };
  }

  async function startHeld(worker: Worker, queue: string, held: ReturnType<typeof heldHandler>) {
    const run = await h.client().start('held', null, { queue });
    await held.entered(run.id);
    await heldAndAcknowledged(h, run.id, worker.workerId!);
    return run;
  }

  test('a cancel aborts the running handler at once, through gRPC or HTTP', async () => {
    const { queue, held, worker } = await heldWorker();
    try {
      const client = h.client();
      const viaGrpc = await startHeld(worker, queue, held);
      const cancelledAt = Date.now();
      expect((await client.cancel(viaGrpc.id)).run.status).toBe('CANCELLED');
      const abort = await within(held.aborted(viaGrpc.id), PUSH_DEADLINE_MS, 'the pushed cancel');
      expect(abort.reason).toBeInstanceOf(CancelledError);
      expect(abort.at).toBeGreaterThanOrEqual(cancelledAt);

      const viaHttp = await startHeld(worker, queue, held);
      await h.http().post(`/v1/namespaces/default/workflows/${viaHttp.id}/cancel`).expect(200);
      expect((await within(held.aborted(viaHttp.id), PUSH_DEADLINE_MS, 'the pushed cancel')).reason).toBeInstanceOf(
        CancelledError,
      );
      await waitFor(() => worker.activeCount === 0, 'the worker to drop the cancelled runs');
      const rows = await h.query(`SELECT status FROM workflow_runs WHERE id = ANY($1)`, [[viaGrpc.id, viaHttp.id]]);
      expect(rows).toEqual([{ status: 'CANCELLED' }, { status: 'CANCELLED' }]);
    } finally {
      await worker.stop();
    }
  });

  test('after a frontend crash and restart the feed reconnects and pushes again', async () => {
    await h.stopApp('frontend');
    const frontend = h.spawnApp('frontend');
    try {
      await frontend.ready();
      const { queue, held, worker } = await heldWorker();
      try {
        const first = await startHeld(worker, queue, held);
        await h.client().cancel(first.id);
        await within(held.aborted(first.id), PUSH_DEADLINE_MS, 'the cancel pushed before the crash');

        expect(await frontend.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
        frontend.start();
        await frontend.ready();
        await waitFor(async () => (await openFeeds(h.httpUrl)) === 1, 'the worker to reopen its feed', {
          timeoutMs: 20_000,
        });
        const second = await startHeld(worker, queue, held);
        await h.client().cancel(second.id);
        const abort = await within(held.aborted(second.id), PUSH_DEADLINE_MS, 'the cancel pushed after the restart');
        expect(abort.reason).toBeInstanceOf(CancelledError);
      } finally {
        await worker.stop();
      }
    } finally {
      await frontend.kill();
      await h.startApp('frontend');
    }
  });

  describe('the feed itself (WatchCancellations and its HTTP long poll)', () => {
    let transport: Transport;

    beforeAll(() => {
      transport = new Transport(h.grpcAddress);
    });

    afterAll(() => transport.close());

    /** A raw WatchCancellations stream: what it received, once the server has it open. */
    async function watch(namespace: string, workerId: string) {
      const received: string[] = [];
      const opened = deferred();
      const ended = deferred<BatonError | null>();
      const stream = transport.stream(
        'worker',
        'WatchCancellations',
        { namespace, workerId },
        {
          open: () => opened.resolve(),
          message: (m) => received.push(...(m.runIds ?? [])),
          end: (err) => ended.resolve(err),
        },
      );
      await Promise.race([opened.promise, ended.promise.then((err) => Promise.reject(err))]);
      return { received, stream };
    }

    /** Two protocol workers on one queue, each holding one run. */
    async function twoHolders(): Promise<Array<{ worker: ProtocolWorker; task: PolledTask }>> {
      const queue = h.unique();
      const client = h.client();
      const holders = [];
      for (let i = 0; i < 2; i++) {
        const worker = (await ProtocolWorker.register(h, { queue, workflowTypes: ['raw'] })).keepAlive();
        await client.start('raw', i, { queue });
        holders.push({ worker, task: await worker.pollUntilTask() });
      }
      return holders;
    }

    test("a worker's feed carries its own runs and never another worker's", async () => {
      const [a, b] = await twoHolders();
      const feedA = await watch('default', a!.worker.id);
      const feedB = await watch('default', b!.worker.id);
      try {
        const client = h.client();
        await client.cancel(a!.task.runId);
        await client.cancel(b!.task.runId);
        // Both events travel on one subject in order: once B has its own, A's would have come before it.
        await waitFor(() => feedB.received.length > 0 && feedA.received.length > 0, 'both feeds to get a push');
        expect(feedA.received).toEqual([a!.task.runId]);
        expect(feedB.received).toEqual([b!.task.runId]);
      } finally {
        feedA.stream.cancel();
        feedB.stream.cancel();
      }
    });

    test('a feed opens only for a worker registered in that namespace, on valid input', async () => {
      const [a] = await twoHolders();
      const refused = (namespace: string, workerId: string) =>
        watch(namespace, workerId).then(
          () => null,
          (err: unknown) => err,
        );
      expect(await refused('other-namespace', a!.worker.id)).toMatchObject({
        code: 'FAILED_PRECONDITION',
        reason: 'WORKER_REREGISTER',
      });
      expect(await refused('default', 'not-a-uuid')).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workerId' });
      expect(await refused('', a!.worker.id)).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'namespace' });
      const http = await h.http().post(`/v1/namespaces/default/workers/not-a-uuid/cancellations`).expect(400);
      expect(http.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workerId' });
      await h.http().post(`/v1/namespaces/other-namespace/workers/${a!.worker.id}/cancellations`).expect(409);
    });

    test('the HTTP long poll answers with the cancelled run, or with nothing after the poll timeout', async () => {
      const [a] = await twoHolders();
      const url = `${h.httpUrl}/v1/namespaces/default/workers/${a!.worker.id}/cancellations`;
      const longPoll = () =>
        fetch(url, { method: 'POST' }).then(async (res) => ({ status: res.status, body: await res.json() }));

      const idle = await longPoll();
      expect(idle).toEqual({ status: 200, body: { runIds: [] } });

      const before = await openFeeds(h.httpUrl);
      const answer = longPoll();
      await waitFor(async () => (await openFeeds(h.httpUrl)) > before, 'the long poll to be waiting');
      await h.client().cancel(a!.task.runId);
      expect(await answer).toEqual({ status: 200, body: { runIds: [a!.task.runId] } });
    });
  });
});

describe('cancellation without the push: the heartbeat still delivers', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // The harness's fast heartbeat (0.5 s).
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('a cancel whose push is lost reaches the handler with the next heartbeat', async () => {
    const queue = h.unique();
    const held = heldHandler();
    const worker = h.worker({ queue });
    worker.register('held', held.handler);
    await worker.start();
    try {
      const run = await h.client().start('held', null, { queue });
      await held.entered(run.id);
      await heldAndAcknowledged(h, run.id, worker.workerId!);
      // The cancel transition itself, with no event published: as if the push were lost on the way.
      const dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 1, applicationName: 'cancel-push' });
      await dataSource.initialize();
      try {
        const outcome = await new RunsRepository(new Sql(dataSource)).cancel('default', run.id);
        expect(outcome).toMatchObject({ cancelled: true, workerId: worker.workerId });
      } finally {
        await dataSource.destroy();
      }
      const abort = await within(held.aborted(run.id), PUSH_DEADLINE_MS, 'the heartbeat to report the cancel');
      expect(abort.reason).toBeInstanceOf(CancelledError);
    } finally {
      await worker.stop();
    }
  });
});
