import { BatonError, Transport, WorkflowFailedError } from '@baton/sdk';
import { TestHarness, deferred, jsonPayload, rawCall, waitFor } from '../index';
import type { RawReply } from '../index';

const json = jsonPayload;

/** What the promise rejected with (an Error saying so if it resolved), read as the BatonError it should be. */
async function failure(promise: Promise<unknown>): Promise<BatonError> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`) as BatonError,
    (err: unknown) => err as BatonError,
  );
}

/** A worker that speaks the gRPC worker protocol by hand and heartbeats so it stays ONLINE. */
class ProtocolWorker {
  private heartbeat?: NodeJS.Timeout;

  private constructor(
    readonly transport: Transport,
    readonly namespace: string,
    readonly queue: string,
    readonly workflowTypes: string[],
    readonly id: string,
  ) {}

  static async register(h: TestHarness, namespace: string, queue: string, workflowTypes: string[], hostname: string) {
    const transport = new Transport(h.grpcAddress);
    const res = await transport.call('worker', 'Register', { namespace, queue, workflowTypes, hostname, pid: 1 });
    const worker = new ProtocolWorker(transport, namespace, queue, workflowTypes, res.workerId!);
    worker.heartbeat = setInterval(() => {
      transport
        .call('worker', 'Heartbeat', { namespace, workerId: worker.id, activeRunIds: [] })
        .catch(() => undefined);
    }, 300);
    return worker;
  }

  poll(namespace = this.namespace) {
    return this.transport.call('worker', 'PollTask', {
      namespace,
      queue: this.queue,
      workerId: this.id,
      workflowTypes: this.workflowTypes,
    });
  }

  claim(): Promise<ClaimedTask> {
    return waitFor(
      async () => ((await this.poll()).task as ClaimedTask | undefined) ?? null,
      `a task on ${this.queue}`,
      { intervalMs: 0 },
    );
  }

  call(method: string, body: object): Promise<RawReply> {
    return rawCall(this.transport, 'worker', method, body);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.transport
      .call('worker', 'Deregister', { namespace: this.namespace, workerId: this.id, drain: false })
      .catch(() => undefined);
    this.transport.close();
  }
}

/** What a test needs of a claimed task: its run and its lease. */
interface ClaimedTask {
  runId: string;
  leaseEpoch: number;
  leaseToken: string;
}

/** Every worker mutation, with a given lease, as (name, request) pairs. */
function mutations(lease: object): Array<[string, object]> {
  return [
    ['BeginStep', { lease, stepId: 'forged', seq: 0 }],
    ['CompleteStep', { lease, stepId: 'forged', seq: 0, output: json('forged') }],
    ['FailStep', { lease, stepId: 'forged', seq: 0, error: { message: 'forged' } }],
    ['Sleep', { lease, stepId: 'forged-nap', seq: 0, durationMs: 60_000 }],
    ['CompleteWorkflow', { lease, output: json('forged') }],
    ['FailWorkflow', { lease, error: { message: 'forged', nonRetryable: true } }],
  ];
}

async function snapshot(h: TestHarness, runId: string) {
  const [run] = await h.query(
    // Not locked_until: the real owner's heartbeats extend it.
    `SELECT r.status, r.locked_by, r.lease_epoch, r.lease_token, r.attempt, r.claims, r.error_message, r.updated_at, p.output
     FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1`,
    [runId],
  );
  const steps = await h.query(`SELECT step_id FROM step_runs WHERE run_id = $1`, [runId]);
  return { run, steps };
}

describe('12. Security and validation', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('12.1 input validation', () => {
    test('invalid_uuid_rejected_gracefully', async () => {
      const client = h.client();
      const bad = [
        'not-a-uuid',
        '123',
        "'; DROP TABLE workflow_runs; --",
        '00000000-0000-0000-0000-00000000000g',
        '0000000000000000000000000000000000',
        '{00000000-0000-0000-0000-000000000000}',
        '00000000-0000-0000-0000-000000000000 ',
        'x'.repeat(10_000),
        '../../etc/passwd',
        '%00',
      ];
      for (const id of bad) {
        for (const [name, op] of [
          ['get', () => client.get(id)],
          ['cancel', () => client.cancel(id)],
          ['delete', () => client.delete(id)],
          ['steps', () => client.steps(id)],
          ['result', () => client.result(id, { timeout: '1s' })],
        ] as const) {
          const err = await failure(op());
          expect(err).toBeInstanceOf(BatonError);
          expect({ id: id.slice(0, 40), name, code: err.code, field: err.field }).toEqual({
            id: id.slice(0, 40),
            name,
            code: 'INVALID_ARGUMENT',
            field: 'runId',
          });
        }
      }
      // HTTP: 400 with the error model, never 404/500.
      for (const id of ['not-a-uuid', "'; DROP TABLE workflow_runs; --", '00000000-0000-0000-0000-00000000000g']) {
        const path = `/v1/namespaces/default/workflows/${encodeURIComponent(id)}`;
        for (const res of [
          await h.http().get(path),
          await h.http().post(`${path}/cancel`),
          await h.http().delete(path),
          await h.http().get(`${path}/steps`),
          await h.http().get(`${path}/result`).query({ waitMs: 0 }),
        ]) {
          expect(res.status).toBe(400);
          expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'runId' });
          expect(res.body.error.message).toMatch(/UUID/);
        }
      }
      // Worker ids and leases too.
      const transport = new Transport(h.grpcAddress);
      try {
        await expect(
          transport.call('worker', 'Heartbeat', { namespace: 'default', workerId: 'nope', activeRunIds: [] }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workerId' });
        await expect(
          transport.call('worker', 'Heartbeat', {
            namespace: 'default',
            workerId: '018f0000-0000-7000-8000-000000000000',
            activeRunIds: ['bad'],
          }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'activeRunIds[0]' });
        await expect(
          transport.call('worker', 'CompleteWorkflow', {
            lease: {
              namespace: 'default',
              runId: 'bad',
              workerId: '018f0000-0000-7000-8000-000000000000',
              leaseEpoch: 1,
            },
          }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'lease.runId' });
        await expect(
          transport.call('worker', 'PollTask', {
            namespace: 'default',
            queue: 'q',
            workerId: 'bad',
            workflowTypes: ['t'],
          }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workerId' });
      } finally {
        transport.close();
      }
      const hb = await h.http().post('/v1/namespaces/default/workers/not-a-uuid/heartbeat').send({});
      expect(hb.status).toBe(400);
      expect(hb.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workerId' });

      // A well-formed id that names nothing is NOT_FOUND; case does not matter for a real one.
      const missing = '018f0000-0000-7000-8000-000000000000';
      await expect(client.get(missing)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await h.http().get(`/v1/namespaces/default/workflows/${missing}`).expect(404);
      const run = await client.start('anything', null, { queue: h.unique() });
      expect((await client.get(run.id.toUpperCase())).id).toBe(run.id);
      await client.cancel(run.id);
    });

    test('empty_workflow_type_rejected', async () => {
      const client = h.client();
      const queue = h.unique();
      const err = await failure(client.start('', null, { queue }));
      expect(err).toBeInstanceOf(BatonError);
      expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowType' });
      expect(err.message).toMatch(/workflowType/);

      // HTTP: missing, empty, null, wrong type, malformed body.
      const base = '/v1/namespaces/default/workflows';
      for (const body of [
        {},
        { workflowType: '' },
        { workflowType: null },
        { workflowType: 42 },
        { workflowType: ['a'] },
      ]) {
        const res = await h
          .http()
          .post(base)
          .send({ queue, ...body });
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowType' });
      }
      const malformed = await h.http().post(base).set('content-type', 'application/json').send('{"workflowType": ');
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('INVALID_ARGUMENT');

      // Other required names: namespace (SDK and HTTP), and a worker's list of types.
      await expect(h.client('').start('t', null)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'namespace',
      });
      const transport = new Transport(h.grpcAddress);
      try {
        await expect(
          transport.call('worker', 'Register', {
            namespace: 'default',
            queue,
            workflowTypes: [''],
            hostname: 'h',
            pid: 1,
          }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowTypes[0]' });
        await expect(
          transport.call('worker', 'Register', {
            namespace: 'default',
            queue,
            workflowTypes: [],
            hostname: 'h',
            pid: 1,
          }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowTypes' });
      } finally {
        transport.close();
      }
      const emptyWorker = await h
        .http()
        .post('/v1/namespaces/default/workers')
        .send({ queue, workflowTypes: [''] });
      expect(emptyWorker.status).toBe(400);
      // Schedules need a workflow type as well.
      await expect(
        client.schedules.create({ scheduleId: h.unique('s'), workflowType: '', cron: '* * * * *' }),
      ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowType' });

      // Nothing was stored.
      const [{ n }] = (await h.query(
        `SELECT (SELECT count(*) FROM workflow_runs WHERE task_queue = $1 OR workflow_type = '')
              + (SELECT count(*) FROM workers WHERE task_queue = $1)
              + (SELECT count(*) FROM schedules WHERE workflow_type = '') AS n`,
        [queue],
      )) as [{ n: string }];
      expect(Number(n)).toBe(0);
    });

    test('negative_duration_rejected', async () => {
      const client = h.client();
      const queue = h.unique();
      const type = h.unique('neg');

      // Run timeouts: SDK (gRPC) and HTTP, as numbers and as text.
      for (const timeout of [-1, -1000, '-5s', '-1h30m']) {
        const err = await failure(client.start(type, null, { queue, timeout }));
        expect(err).toBeInstanceOf(BatonError);
        expect({ timeout, code: err.code, field: err.field }).toEqual({
          timeout,
          code: 'INVALID_ARGUMENT',
          field: 'timeoutMs',
        });
        expect(err.message).toMatch(/negative/);
      }
      for (const body of [{ timeoutMs: -1 }, { timeout: '-5s' }, { timeoutMs: '-250ms' }]) {
        const res = await h
          .http()
          .post('/v1/namespaces/default/workflows')
          .send({ workflowType: type, queue, ...body });
        expect({ body, status: res.status }).toEqual({ body, status: 400 });
        expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'timeoutMs' });
      }
      // Retry intervals are durations too.
      await expect(client.start(type, null, { queue, retry: { initialIntervalMs: -100 } })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'retry.initialIntervalMs',
      });
      await expect(client.start(type, null, { queue, retry: { maxIntervalMs: -1 } })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'retry.maxIntervalMs',
      });
      expect((await h.query(`SELECT 1 FROM workflow_runs WHERE workflow_type = $1`, [type])).length).toBe(0);

      // Sleep: by hand over gRPC and HTTP, the run stays RUNNING and nothing is recorded.
      const worker = await ProtocolWorker.register(h, 'default', queue, ['sleepy'], `neg-${queue}`);
      try {
        const run = await client.start('sleepy', null, { queue });
        const task = await worker.claim();
        const lease = {
          namespace: 'default',
          runId: run.id,
          workerId: worker.id,
          leaseEpoch: task.leaseEpoch,
          leaseToken: task.leaseToken,
        };
        for (const durationMs of [-1, -86_400_000]) {
          const err = await failure(worker.call('Sleep', { lease, stepId: 'nap', seq: 0, durationMs }));
          expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'durationMs' });
          expect(err.message).toMatch(/negative/);
        }
        for (const durationMs of [-5, '-5s']) {
          const res = await h.http().post(`/v1/namespaces/default/workflows/${run.id}/sleep`).send({
            workerId: worker.id,
            leaseEpoch: task.leaseEpoch,
            leaseToken: task.leaseToken,
            stepId: 'nap',
            seq: 0,
            durationMs,
          });
          expect({ durationMs, status: res.status }).toEqual({ durationMs, status: 400 });
          expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'durationMs' });
        }
        const after = await snapshot(h, run.id);
        expect(after.run).toMatchObject({ status: 'RUNNING', locked_by: worker.id });
        expect(after.steps).toEqual([]);
        await worker.call('CompleteWorkflow', { lease, output: json('ok') });
      } finally {
        await worker.close();
      }

      // Through the SDK: a handler asking for a negative sleep fails with the reason, it does not sleep.
      const sdkQueue = h.unique();
      const sdkWorker = h.worker({ queue: sdkQueue });
      sdkWorker.register('bad-sleep', async (ctx) => {
        await ctx.sleep('nap', '-10s');
        return 'slept';
      });
      await sdkWorker.start();
      const bad = await client.start('bad-sleep', null, { queue: sdkQueue, retry: { maxAttempts: 1 } });
      const err = await failure(client.result(bad.id));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(err.message).toMatch(/durationMs must not be negative/);
      expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [bad.id])).toHaveLength(0);
    });
  });

  describe('12.2 authorization', () => {
    test('worker_cannot_complete_other_workers_workflow', async () => {
      const queue = h.unique();
      const client = h.client();
      const a = await ProtocolWorker.register(h, 'default', queue, ['owned'], `worker-a-${queue}`);
      const b = await ProtocolWorker.register(h, 'default', queue, ['owned'], `worker-b-${queue}`);
      try {
        const run = await client.start('owned', null, { queue });
        const task = await a.claim();
        expect(task.runId).toBe(run.id);
        const ownLease = {
          namespace: 'default',
          runId: run.id,
          workerId: a.id,
          leaseEpoch: task.leaseEpoch,
          leaseToken: task.leaseToken,
        };
        await a.call('CompleteStep', { lease: ownLease, stepId: 'real', seq: 0, output: json(1) });
        const before = await snapshot(h, run.id);
        expect(before.run).toMatchObject({ status: 'RUNNING', locked_by: a.id });

        // B guesses leases: A's epoch, the next one, older ones; and an unregistered worker id. Each
        // even with A's lease token (as if it had leaked): a lease is the worker's, not the token's alone.
        const stolen = { namespace: 'default', runId: run.id, leaseToken: task.leaseToken };
        const forgedLeases = [
          { ...stolen, workerId: b.id, leaseEpoch: task.leaseEpoch },
          { ...stolen, workerId: b.id, leaseEpoch: task.leaseEpoch + 1 },
          { ...stolen, workerId: b.id, leaseEpoch: 1 },
          { ...stolen, workerId: b.id, leaseEpoch: 2 ** 31 - 1 },
          { ...stolen, workerId: '018f0000-0000-7000-8000-000000000000', leaseEpoch: task.leaseEpoch },
        ];
        for (const lease of forgedLeases) {
          // Also A's own recorded step: neither its history nor an "already completed" success is
          // told to a worker that does not hold the run.
          const own: Array<[string, object]> = [
            ['BeginStep', { lease, stepId: 'real', seq: 0 }],
            ['CompleteStep', { lease, stepId: 'real', seq: 0, output: json('forged') }],
            ['BeginStep', { lease, stepId: 'forged', seq: 1 }],
          ];
          for (const [method, body] of [...mutations(lease), ...own]) {
            const err = await failure(b.call(method, body));
            expect({ method, lease: lease.leaseEpoch, code: err.code, reason: err.reason }).toEqual({
              method,
              lease: lease.leaseEpoch,
              code: 'FAILED_PRECONDITION',
              reason: 'LEASE_LOST',
            });
          }
        }
        // Over HTTP as well.
        const http = await h
          .http()
          .post(`/v1/namespaces/default/workflows/${run.id}/complete`)
          .send({ workerId: b.id, leaseEpoch: task.leaseEpoch, leaseToken: task.leaseToken, output: 'forged' });
        expect(http.status).toBe(409);
        expect(http.body.error.code).toBe('FAILED_PRECONDITION');
        // A lease epoch that cannot exist is invalid input.
        await expect(
          b.call('CompleteWorkflow', { lease: { namespace: 'default', runId: run.id, workerId: b.id, leaseEpoch: 0 } }),
        ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'lease.leaseEpoch' });
        // B's heartbeat naming A's run neither extends A's lease nor takes it over.
        const hb = await b.call('Heartbeat', { namespace: 'default', workerId: b.id, activeRunIds: [run.id] });
        expect(hb.cancelledRunIds).toEqual([run.id]);

        // The run is untouched: same owner, lease, state; no steps, no output.
        const after = await snapshot(h, run.id);
        expect(after.run).toEqual(before.run);
        expect(after.steps).toEqual([{ step_id: 'real' }]);

        // A still owns it and finishes it.
        await a.call('CompleteStep', { lease: ownLease, stepId: 'real', seq: 0, output: json(1) }); // a repeat is fine for the owner
        await a.call('CompleteWorkflow', { lease: ownLease, output: json('by A') });
        await expect(client.result(run.id)).resolves.toBe('by A');
        expect((await client.steps(run.id)).map((s) => s.output)).toEqual([1]);
      } finally {
        await a.close();
        await b.close();
      }
    });

    test('namespace_cross_access_prevented', async () => {
      const nsA = h.unique('tenant-a');
      const nsB = h.unique('tenant-b');
      const queue = h.unique(); // the same queue name in both namespaces
      const clientA = h.client(nsA);
      const clientB = h.client(nsB);

      const held = deferred<void>();
      const release = deferred<void>();
      const workerA = h.worker({ namespace: nsA, queue });
      workerA.register('secret', async (ctx) => {
        await ctx.step('inside', () => 'a-only');
        held.resolve();
        await release.promise;
        return 'a-result';
      });
      await workerA.start();
      const run = await clientA.start('secret', { card: '4111' }, { queue, externalId: 'shared-key' });
      await held.promise;

      // Every read and write from B names nothing: NOT_FOUND, not FORBIDDEN (which would confirm it exists).
      for (const [name, op] of [
        ['get', () => clientB.get(run.id)],
        ['cancel', () => clientB.cancel(run.id)],
        ['delete', () => clientB.delete(run.id)],
        ['steps', () => clientB.steps(run.id)],
        ['result', () => clientB.result(run.id, { timeout: '1s' })],
      ] as const) {
        const err = await failure(op());
        expect({ name, code: err.code }).toEqual({ name, code: 'NOT_FOUND' });
      }
      const base = `/v1/namespaces/${nsB}/workflows/${run.id}`;
      for (const res of [
        await h.http().get(base),
        await h.http().post(`${base}/cancel`),
        await h.http().delete(base),
        await h.http().get(`${base}/steps`),
        await h.http().get(`${base}/result`).query({ waitMs: 0 }),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
      expect((await clientB.list({ pageSize: 100 })).runs).toEqual([]);
      // The same external id in B is a different run, not the one in A.
      const inB = await clientB.start('secret', null, { queue, externalId: 'shared-key' });
      expect(inB.alreadyExists).toBe(false);
      expect(inB.id).not.toBe(run.id);

      // A worker of namespace B can neither poll A's queue nor touch A's run.
      const workerB = await ProtocolWorker.register(h, nsB, queue, ['secret'], `worker-b-${queue}`);
      try {
        await expect(workerB.poll(nsA)).rejects.toMatchObject({
          code: 'FAILED_PRECONDITION',
          reason: 'WORKER_REREGISTER',
        });
        const ownB = await workerB.claim();
        expect(ownB.runId).toBe(inB.id);
        // A's very lease (read from the database), as if it had leaked: B still may not use it.
        const [{ lease_epoch: epoch, lease_token: token }] = (await h.query(
          `SELECT lease_epoch, lease_token FROM workflow_runs WHERE id = $1`,
          [run.id],
        )) as [{ lease_epoch: number; lease_token: string }];
        const before = await snapshot(h, run.id);
        for (const namespace of [nsB, nsA]) {
          const lease = { namespace, runId: run.id, workerId: workerB.id, leaseEpoch: epoch, leaseToken: token };
          for (const [method, body] of mutations(lease)) {
            const err = await failure(workerB.call(method, body));
            // Under its own namespace the run does not exist; naming A's namespace, B does not own it.
            expect({ namespace, method, code: err.code }).toEqual({
              namespace,
              method,
              code: namespace === nsB ? 'NOT_FOUND' : 'FAILED_PRECONDITION',
            });
          }
        }
        const hb = await workerB.call('Heartbeat', { namespace: nsB, workerId: workerB.id, activeRunIds: [run.id] });
        expect(hb.cancelledRunIds).toEqual([run.id]);
        expect(await snapshot(h, run.id)).toEqual(before);
        // B's worker also cannot claim A's work under A's namespace with B's registration.
        await expect(
          workerB.transport.call('worker', 'Heartbeat', { namespace: nsA, workerId: workerB.id, activeRunIds: [] }),
        ).resolves.toMatchObject({ action: 'REREGISTER' });
        await workerB.call('CompleteWorkflow', {
          lease: {
            namespace: nsB,
            runId: inB.id,
            workerId: workerB.id,
            leaseEpoch: ownB.leaseEpoch,
            leaseToken: ownB.leaseToken,
          },
          output: json('b-result'),
        });
      } finally {
        await workerB.close();
      }

      release.resolve();
      await expect(clientA.result(run.id)).resolves.toBe('a-result');
      await expect(clientB.result(inB.id)).resolves.toBe('b-result');
      expect((await clientA.steps(run.id)).map((s) => s.output)).toEqual(['a-only']);
      expect((await clientA.list()).runs.map((r) => r.id)).toEqual([run.id]);
      // Schedules and workers are scoped the same way.
      expect((await clientB.workers()).map((w) => w.id)).not.toContain(workerA.workerId);
      expect((await clientA.workers()).map((w) => w.id)).toContain(workerA.workerId);
      // Cancel from B of a finished run in A is still NOT_FOUND (no state leaks via FAILED_PRECONDITION).
      await expect(clientB.cancel(run.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });
});
