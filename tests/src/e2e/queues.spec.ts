import { Transport } from '@baton/sdk';
import { TestHarness, deferred, rawCall, waitFor } from '../index';
import { trueQueueCounts } from '../harness/assertions';
import { SilentWorker } from '../harness/silent-worker';

/*
 * Queues as operators see them: ListQueues (gRPC) and GET .../queues (HTTP)
 * list the queues of a namespace with their backlog and the age of the
 * oldest claimable run; QueueStats of a queue that does not exist is
 * NOT_FOUND. A queue exists once a run was started on it (its counters stay,
 * at zero, after its runs are gone) or while a worker is registered on it.
 */

interface Backlog {
  namespace: string;
  queue: string;
  pending: number;
  running: number;
  sleeping: number;
  oldestClaimableAgeMs: number | null;
}

describe('queues', () => {
  let h: TestHarness;
  let transport: Transport;

  beforeAll(async () => {
    h = await TestHarness.start();
    transport = new Transport(h.grpcAddress);
  });

  afterAll(async () => {
    transport?.close();
    await h?.stop();
  });

  /** ListQueues over gRPC, with proto3's absent zeros and absent age read as HTTP shows them. */
  async function listGrpc(namespace: string): Promise<Backlog[]> {
    const res = await rawCall(transport, 'admin', 'ListQueues', { namespace });
    return ((res.queues ?? []) as Array<Partial<Backlog>>).map((q) => ({
      namespace: q.namespace ?? '',
      queue: q.queue ?? '',
      pending: q.pending ?? 0,
      running: q.running ?? 0,
      sleeping: q.sleeping ?? 0,
      oldestClaimableAgeMs: q.oldestClaimableAgeMs ?? null,
    }));
  }

  async function listHttp(namespace: string): Promise<Backlog[]> {
    return (
      await h
        .http()
        .get(`/v1/namespaces/${encodeURIComponent(namespace)}/queues`)
        .expect(200)
    ).body.queues;
  }

  test('ListQueues shows each queue of the namespace with its backlog, and an oldest age that grows', async () => {
    const ns = h.unique('ns');
    const client = h.client(ns);
    const [waiting, busy, idle] = [h.unique('waiting'), h.unique('busy'), h.unique('idle')];
    const release = deferred();

    const started = Date.now();
    for (let i = 0; i < 3; i++) await client.start('unserved', i, { queue: waiting });
    const worker = h.worker({ namespace: ns, queue: busy });
    worker.register('nap', async (ctx) => {
      await ctx.sleep('nap', '1h');
    });
    worker.register('hold', () => release.promise);
    await worker.start();
    await client.start('nap', null, { queue: busy });
    await client.start('hold', null, { queue: busy });
    // A queue with a worker and no run yet, and a queue of another namespace that must not show.
    const idler = await SilentWorker.register(h, { namespace: ns, queue: idle, workflowTypes: ['x'] });
    await h.client(h.unique('elsewhere')).start('unserved', null, { queue: h.unique('foreign') });
    try {
      await waitFor(
        async () => JSON.stringify(await trueQueueCounts(h, busy, ns)) === '{"pending":0,"running":1,"sleeping":1}',
        'one run RUNNING and one SLEEPING on the busy queue',
      );

      const grpc = await listGrpc(ns);
      const http = await listHttp(ns);
      const elapsed = Date.now() - started;
      for (const list of [grpc, http]) {
        expect(list.map((q) => q.queue)).toEqual([busy, idle, waiting].sort());
        const of = (queue: string) => list.find((q) => q.queue === queue)!;
        expect(of(waiting)).toMatchObject({ namespace: ns, pending: 3, running: 0, sleeping: 0 });
        expect(of(busy)).toEqual({
          namespace: ns,
          queue: busy,
          pending: 0,
          running: 1,
          sleeping: 1,
          oldestClaimableAgeMs: null,
        });
        expect(of(idle)).toEqual({
          namespace: ns,
          queue: idle,
          pending: 0,
          running: 0,
          sleeping: 0,
          oldestClaimableAgeMs: null,
        });
        // The first run has waited since it was started: no longer than the test has run (the clocks are one machine's).
        const age = of(waiting).oldestClaimableAgeMs!;
        expect(age).toBeGreaterThanOrEqual(0);
        expect(age).toBeLessThanOrEqual(elapsed + 1_000);
      }

      const first = (await listHttp(ns)).find((q) => q.queue === waiting)!.oldestClaimableAgeMs!;
      await waitFor(
        async () => (await listGrpc(ns)).find((q) => q.queue === waiting)!.oldestClaimableAgeMs! >= first + 500,
        'the oldest claimable age to grow',
      );
      expect(await listHttp(h.unique('empty'))).toEqual([]);
    } finally {
      release.resolve();
      await idler.deregister();
    }
  });

  test('QueueStats of a queue that does not exist is NOT_FOUND over gRPC and HTTP', async () => {
    const ns = h.unique('ns');
    const client = h.client(ns);
    const unknown = h.unique('nobody');
    await expect(client.queueStats(unknown)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const res = await h.http().get(`/v1/namespaces/${ns}/queues/${unknown}/stats`).expect(404);
    expect(res.body.error).toMatchObject({ code: 'NOT_FOUND' });

    // A queue of another namespace does not exist here (invariant 9).
    const foreign = h.unique('foreign');
    await h.client(h.unique('other')).start('unserved', null, { queue: foreign });
    await expect(client.queueStats(foreign)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await h.http().get(`/v1/namespaces/${ns}/queues/${foreign}/stats`).expect(404);

    // A worker registered on a queue makes it exist, while the worker is registered.
    const idle = h.unique('idle');
    const idler = await SilentWorker.register(h, { namespace: ns, queue: idle, workflowTypes: ['x'] });
    expect(await client.queueStats(idle)).toEqual({ namespace: ns, queue: idle, pending: 0, running: 0, sleeping: 0 });
    await idler.deregister();
    await expect(client.queueStats(idle)).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // A queue that ran something exists for good, at zero once its runs are done.
    const used = h.unique('used');
    const worker = h.worker({ namespace: ns, queue: used });
    worker.register('quick', async () => 'done');
    await worker.start();
    const run = await client.start('quick', null, { queue: used });
    await client.result(run.id);
    await worker.stop();
    await waitFor(async () => (await client.queueStats(used)).running === 0, 'the finished run to leave the counters');
    expect(await client.queueStats(used)).toEqual({ namespace: ns, queue: used, pending: 0, running: 0, sleeping: 0 });
    await h.http().get(`/v1/namespaces/${ns}/queues/${used}/stats`).expect(200);
    expect((await listHttp(ns)).map((q) => q.queue)).toEqual([used]);
  });
});
