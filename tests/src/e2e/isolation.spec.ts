import { BatonError, ErrorCode, ErrorReason } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';
import { ProtocolWorker, pollAs } from '../harness/protocol-worker';

async function notFound(call: Promise<unknown>): Promise<void> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BatonError);
  expect((err as BatonError).code).toBe(ErrorCode.NOT_FOUND);
}

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]);
  return row!;
}

describe('9. Multi-tenancy & namespaces', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ workerStaleThresholdSecs: 5 });
  });

  afterAll(async () => {
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  describe('9.1 namespace isolation', () => {
    test('workflows_isolated_by_namespace', async () => {
      const nsA = h.unique('ns-a');
      const nsB = h.unique('ns-b');
      const queue = h.unique();
      const a = h.client(nsA);
      const b = h.client(nsB);
      const mine = await a.start('job', { secret: 1 }, { queue, externalId: 'order-1' });

      // Through the SDK (gRPC), namespace B cannot see or touch A's run.
      await notFound(b.get(mine.id));
      await notFound(b.cancel(mine.id));
      await notFound(b.steps(mine.id));
      await notFound(b.waitForTerminal(mine.id, '1s'));
      await notFound(b.delete(mine.id));
      expect((await b.list({ queue })).runs).toEqual([]);
      expect((await b.list()).runs.map((r) => r.id)).not.toContain(mine.id);

      // Nor over HTTP.
      const http = h.http();
      await http.get(`/v1/namespaces/${nsB}/workflows/${mine.id}`).expect(404);
      await http.post(`/v1/namespaces/${nsB}/workflows/${mine.id}/cancel`).send({}).expect(404);
      await http.get(`/v1/namespaces/${nsB}/workflows/${mine.id}/steps`).expect(404);
      await http.delete(`/v1/namespaces/${nsB}/workflows/${mine.id}`).expect(404);
      const listed = await http.get(`/v1/namespaces/${nsB}/workflows`).query({ queue }).expect(200);
      expect(JSON.stringify(listed.body)).not.toContain(mine.id);

      // The same idempotency key in B is B's own run.
      const theirs = await b.start('job', { secret: 2 }, { queue, externalId: 'order-1' });
      expect(theirs.alreadyExists).toBe(false);
      expect(theirs.id).not.toBe(mine.id);
      await notFound(a.get(theirs.id));

      // A's run is untouched by all of it, and A sees only its own.
      const still = await a.get(mine.id);
      expect(still).toMatchObject({ id: mine.id, status: 'PENDING', input: { secret: 1 } });
      expect((await a.list({ queue })).runs.map((r) => r.id)).toEqual([mine.id]);
      expect((await b.list({ queue })).runs.map((r) => r.id)).toEqual([theirs.id]);
      expect(await a.queueStats(queue)).toMatchObject({ namespace: nsA, pending: 1, running: 0 });
      expect(await b.queueStats(queue)).toMatchObject({ namespace: nsB, pending: 1, running: 0 });
      expect((await a.cancel(mine.id)).run.status).toBe('CANCELLED');
      expect((await b.get(theirs.id)).status).toBe('PENDING');
    });

    test('workers_only_poll_own_namespace', async () => {
      const nsA = h.unique('ns-a');
      const nsB = h.unique('ns-b');
      const queue = h.unique();
      const a = h.client(nsA);
      const b = h.client(nsB);
      // The same queue name and workflow type in both namespaces.
      const runA = await a.start('job', 'A', { queue });
      const runB = await b.start('job', 'B', { queue });

      const ranInA: string[] = [];
      const workerA = h.worker({ namespace: nsA, queue });
      workerA.register('job', async (ctx, input: string) => {
        ranInA.push(ctx.runId);
        return `A saw ${input}`;
      });
      await workerA.start();
      await expect(a.result(runA.id)).resolves.toBe('A saw A');
      // B's run is not A's worker's business: it stays PENDING, never claimed.
      expect(await runRow(h, runB.id)).toMatchObject({ status: 'PENDING', claims: 0, locked_by: null });

      // A raw worker of A asking in B's name is refused, and gets nothing.
      const rawA = (await ProtocolWorker.register(h, { namespace: nsA, queue, workflowTypes: ['job'] })).keepAlive();
      const crossed = await pollAs(h, rawA.id, { namespace: nsB, queue, types: ['job'] });
      expect(crossed.status).toBe(409);
      expect(crossed.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: ErrorReason.WORKER_REREGISTER });
      expect(crossed.task).toBeNull();
      // Nor may it heartbeat, deregister or be looked up there.
      const beat = await fetch(`${h.httpUrl}/v1/namespaces/${nsB}/workers/${rawA.id}/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ activeRunIds: [] }),
      });
      expect(((await beat.json()) as { action: string }).action).toBe('REREGISTER');
      await h.http().get(`/v1/namespaces/${nsB}/workers/${rawA.id}`).expect(404);
      await h.http().delete(`/v1/namespaces/${nsB}/workers/${rawA.id}`).expect(404);
      expect((await b.workers()).map((w) => w.id)).not.toContain(rawA.id);
      expect((await b.workers()).map((w) => w.id)).not.toContain(workerA.workerId);
      expect((await h.http().get(`/v1/namespaces/${nsA}/workers/${rawA.id}`).expect(200)).body.status).toBe('ONLINE');

      // Its own polls in A find nothing either (A's only run is done).
      expect(await rawA.poll()).toMatchObject({ status: 200, task: null });
      expect(await runRow(h, runB.id)).toMatchObject({ status: 'PENDING', claims: 0 });

      // B's own worker runs it.
      const workerB = h.worker({ namespace: nsB, queue });
      workerB.register('job', async (_ctx, input: string) => `B saw ${input}`);
      await workerB.start();
      await expect(b.result(runB.id)).resolves.toBe('B saw B');
      expect(ranInA).toEqual([runA.id]);
    });
  });

  describe('9.2 queue isolation', () => {
    test('different_queues_isolated', async () => {
      const client = h.client();
      const q1 = h.unique();
      const q2 = h.unique();
      const inQ1 = await Promise.all([1, 2, 3].map((n) => client.start('job', n, { queue: q1 })));
      const inQ2 = await Promise.all([1, 2].map((n) => client.start('job', n, { queue: q2 })));

      const ran: string[] = [];
      const w1 = h.worker({ queue: q1 });
      w1.register('job', async (ctx) => {
        ran.push(ctx.runId);
        return q1;
      });
      await w1.start();
      for (const run of inQ1) await expect(client.result(run.id)).resolves.toBe(q1);
      expect(ran.sort()).toEqual(inQ1.map((r) => r.id).sort());
      for (const run of inQ2) expect(await runRow(h, run.id)).toMatchObject({ status: 'PENDING', claims: 0 });

      // Listing, stats and counts are per queue.
      expect((await client.list({ queue: q2 })).runs.map((r) => r.id).sort()).toEqual(inQ2.map((r) => r.id).sort());
      await waitFor(async () => {
        const [s1, s2] = await Promise.all([client.queueStats(q1), client.queueStats(q2)]);
        return s1.pending === 0 && s1.running === 0 && s2.pending === 2;
      }, 'queue stats to show each queue on its own');

      const w2 = h.worker({ queue: q2 });
      w2.register('job', async () => q2);
      await w2.start();
      for (const run of inQ2) await expect(client.result(run.id)).resolves.toBe(q2);
      expect(ran).toHaveLength(3);
    });

    test('worker_only_receives_registered_queue', async () => {
      const client = h.client();
      const mine = h.unique();
      const other = h.unique();
      const elsewhere = await client.start('job', null, { queue: other });
      const raw = (await ProtocolWorker.register(h, { queue: mine, workflowTypes: ['job'] })).keepAlive();

      // Asking for another queue's work is refused outright.
      const crossed = await raw.poll({ queue: other });
      expect(crossed.status).toBe(409);
      expect(crossed.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: ErrorReason.WORKER_REREGISTER });
      const grpcErr = await raw.grpcPoll({ queue: other }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((grpcErr as BatonError).code).toBe(ErrorCode.FAILED_PRECONDITION);
      // Polling its own queue returns nothing while only the other queue has work.
      expect(await raw.poll()).toMatchObject({ status: 200, task: null });
      expect(await runRow(h, elsewhere.id)).toMatchObject({ status: 'PENDING', claims: 0 });

      // Work on its own queue does reach it.
      const own = await client.start('job', null, { queue: mine });
      const task = await raw.pollUntilTask();
      expect(task).toMatchObject({ runId: own.id, queue: mine });
      expect(await raw.complete(task)).toBe(200);
      expect(await runRow(h, elsewhere.id)).toMatchObject({ status: 'PENDING', claims: 0 });
    });
  });
});
