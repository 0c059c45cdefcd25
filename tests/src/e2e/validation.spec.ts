import { randomUUID } from 'node:crypto';
import { BatonError, Transport } from '@baton/sdk';
import type { Response } from 'supertest';
import { TestHarness } from '../index';

/*
 * Bad input at the edge (DESIGN §5 invariant 11, §13): refused with a clear
 * INVALID_ARGUMENT / PAYLOAD_TOO_LARGE naming the field and the limit, never
 * stored, never a 500 - over HTTP and over gRPC alike.
 */

const LIMIT = 2_097_152;

/** A string of exactly `bytes` UTF-8 bytes, made of two-byte characters so bytes and characters differ. */
function nameOfBytes(bytes: number): string {
  const name = 'é'.repeat(Math.floor(bytes / 2)) + (bytes % 2 ? 'x' : '');
  expect(Buffer.byteLength(name, 'utf8')).toBe(bytes);
  return name;
}

/** The HTTP error model: exactly `{"error":{"code","message","field"?,"reason"?}}`. */
function expectHttpError(res: Response, status: number, code: string, field?: string) {
  expect({ status: res.status, body: res.body }).toMatchObject({
    status,
    body: { error: { code, ...(field ? { field } : {}) } },
  });
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  for (const key of Object.keys(res.body.error)) expect(['code', 'message', 'field', 'reason']).toContain(key);
}

async function grpcError(call: Promise<unknown>): Promise<BatonError> {
  const err = await call.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BatonError);
  return err as BatonError;
}

describe('Validation at the edge', () => {
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

  const start = (body: unknown, namespace = 'default') =>
    h
      .http()
      .post(`/v1/namespaces/${encodeURIComponent(namespace)}/workflows`)
      .send(body as object);

  const runsOfType = async (workflowType: string) =>
    (await h.query(`SELECT id FROM workflow_runs WHERE workflow_type = $1`, [workflowType])).length;

  test('get, cancel, steps and result reject an invalid run id with 400 naming the field', async () => {
    for (const bad of ['not-a-uuid', '1234', `${randomUUID()}x`, 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz']) {
      const base = `/v1/namespaces/default/workflows/${bad}`;
      expectHttpError(await h.http().get(base), 400, 'INVALID_ARGUMENT', 'runId');
      expectHttpError(await h.http().post(`${base}/cancel`), 400, 'INVALID_ARGUMENT', 'runId');
      expectHttpError(await h.http().get(`${base}/steps`), 400, 'INVALID_ARGUMENT', 'runId');
      expectHttpError(await h.http().get(`${base}/result`), 400, 'INVALID_ARGUMENT', 'runId');
      expectHttpError(await h.http().delete(base), 400, 'INVALID_ARGUMENT', 'runId');

      const err = await grpcError(h.client().get(bad));
      expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'runId' });
      expect(err.message).toContain('UUID');
    }
  });

  test('start rejects an empty workflowType with 400 naming the field', async () => {
    for (const body of [
      { workflowType: '' },
      {},
      { workflowType: null },
      { workflowType: 42 },
      { workflowType: ['a'] },
    ]) {
      const res = await start({ ...body, input: { x: 1 } });
      expectHttpError(res, 400, 'INVALID_ARGUMENT', 'workflowType');
    }
    const err = await grpcError(h.client().start('', { x: 1 }));
    expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'workflowType' });
    expect(await runsOfType('')).toBe(0);
    expect((await h.query(`SELECT count(*)::int AS n FROM workflow_runs`))[0]!.n).toBe(0);
  });

  test('names of 256 bytes are rejected with the limit in the message and nothing is stored', async () => {
    const long = nameOfBytes(256); // 128 characters: it is the bytes that count
    const ok = `type-${randomUUID()}`;
    const cases: Array<{ field: string; body: object; namespace?: string }> = [
      { field: 'workflowType', body: { workflowType: long } },
      { field: 'queue', body: { workflowType: ok, queue: long } },
      { field: 'externalId', body: { workflowType: ok, externalId: long } },
      { field: 'namespace', body: { workflowType: ok }, namespace: long },
    ];
    for (const c of cases) {
      const res = await start({ ...c.body, input: 1 }, c.namespace);
      expectHttpError(res, 400, 'INVALID_ARGUMENT', c.field);
      expect(res.body.error.message).toContain('255 bytes');
    }

    const grpcCases: Array<[string, () => Promise<unknown>]> = [
      ['workflowType', () => h.client().start(long, 1)],
      ['queue', () => h.client().start(ok, 1, { queue: long })],
      ['externalId', () => h.client().start(ok, 1, { externalId: long })],
      ['namespace', () => h.client(long).start(ok, 1)],
    ];
    for (const [field, call] of grpcCases) {
      const err = await grpcError(call());
      expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field });
      expect(err.message).toContain('255 bytes');
    }

    expect(await runsOfType(long)).toBe(0);
    expect(await runsOfType(ok)).toBe(0);
  });

  test('names of exactly 255 bytes are accepted, stored as given and runnable', async () => {
    const namespace = nameOfBytes(255);
    const queue = nameOfBytes(255).replace(/^é/, 'ü'); // distinct from the namespace, same size
    const workflowType = `${nameOfBytes(253)}.*`; // subject wildcards are just characters in a name
    const externalId = nameOfBytes(255);

    const res = await start({ workflowType, queue, externalId, input: 'hi' }, namespace);
    expect(res.status).toBe(201);
    expect(res.body.run).toMatchObject({ namespace, queue, workflowType, externalId, status: 'PENDING' });
    const [row] = await h.query(
      `SELECT namespace, task_queue, workflow_type, external_id FROM workflow_runs WHERE id = $1`,
      [res.body.run.id],
    );
    expect(row).toEqual({ namespace, task_queue: queue, workflow_type: workflowType, external_id: externalId });

    // The long names also work end to end: a worker on them picks the run up and finishes it.
    const worker = h.worker({ namespace, queue });
    worker.register(workflowType, async (_ctx, input: string) => `${input}!`);
    await worker.start();
    await expect(h.client(namespace).result(res.body.run.id)).resolves.toBe('hi!');
  });

  test('start rejects input over 2,097,152 bytes with 413 naming the field and stores nothing', async () => {
    const workflowType = `big-${randomUUID()}`;
    // JSON text of the input is one byte over the limit (the quotes count).
    const jsonOver = 'x'.repeat(LIMIT - 1);
    expect(Buffer.byteLength(JSON.stringify(jsonOver))).toBe(LIMIT + 1);
    const overJson = await start({ workflowType, input: jsonOver });
    expectHttpError(overJson, 413, 'PAYLOAD_TOO_LARGE', 'input');
    expect(overJson.body.error.message).toContain(String(LIMIT));

    const overBinary = await start({ workflowType, inputBase64: Buffer.alloc(LIMIT + 1, 7).toString('base64') });
    expectHttpError(overBinary, 413, 'PAYLOAD_TOO_LARGE', 'input');
    expect(overBinary.body.error.message).toContain(String(LIMIT));

    const err = await grpcError(h.client().start(workflowType, Buffer.alloc(LIMIT + 1, 7)));
    expect({ code: err.code, field: err.field }).toEqual({ code: 'PAYLOAD_TOO_LARGE', field: 'input' });
    expect(err.message).toContain(String(LIMIT));

    expect(await runsOfType(workflowType)).toBe(0);
    expect(
      (await h.query(`SELECT count(*)::int AS n FROM workflow_payloads WHERE length(input) > $1`, [LIMIT]))[0]!.n,
    ).toBe(0);

    // The limit is inclusive: exactly 2,097,152 bytes is accepted on both transports.
    const atLimit = await start({ workflowType, inputBase64: Buffer.alloc(LIMIT, 7).toString('base64') });
    expect(atLimit.status).toBe(201);
    await expect(h.client().start(workflowType, Buffer.alloc(LIMIT, 7))).resolves.toMatchObject({
      alreadyExists: false,
    });
    expect(await runsOfType(workflowType)).toBe(2);
  });

  test('a malformed JSON body is rejected with 400', async () => {
    const bodies = ['{"workflowType": ', '{workflowType: "x"}', '"just a string"', 'null', '{"a":1}}'];
    for (const text of bodies) {
      const res = await h
        .http()
        .post('/v1/namespaces/default/workflows')
        .set('Content-Type', 'application/json')
        .send(text);
      expectHttpError(res, 400, 'INVALID_ARGUMENT', 'body');
    }
    // The worker routes parse bodies the same way.
    const res = await h
      .http()
      .post('/v1/namespaces/default/workers')
      .set('Content-Type', 'application/json')
      .send('{"queue": "q", ');
    expectHttpError(res, 400, 'INVALID_ARGUMENT', 'body');
    expect(await h.query(`SELECT 1 FROM workers WHERE task_queue = 'q'`)).toHaveLength(0);
  });

  test('an unknown run is 404 NOT_FOUND', async () => {
    const id = randomUUID();
    const base = `/v1/namespaces/default/workflows/${id}`;
    for (const res of [
      await h.http().get(base),
      await h.http().post(`${base}/cancel`),
      await h.http().get(`${base}/steps`),
      await h.http().get(`${base}/result?waitMs=0`),
      await h.http().delete(base),
    ]) {
      expectHttpError(res, 404, 'NOT_FOUND');
      expect(res.body.error.message).toContain(id);
    }
    const client = h.client();
    for (const call of [
      () => client.get(id),
      () => client.cancel(id),
      () => client.steps(id),
      () => client.delete(id),
      () => client.waitForTerminal(id, 0),
    ]) {
      const err = await grpcError(call());
      expect({ code: err.code, message: err.message }).toEqual({
        code: 'NOT_FOUND',
        message: expect.stringContaining(id),
      });
    }
  });

  test('no malformed request produces a 500', async () => {
    const uuid = randomUUID();
    // Some checks only bite on a run that exists.
    const existing = (await h.client().start('x-existing', 1)).id;
    const ns = '/v1/namespaces/default';
    const requests: Array<[string, () => Promise<Response>]> = [
      ['start: body is an array', () => start([{ workflowType: 'x' }])],
      ['start: queue is null', () => start({ workflowType: 'x', queue: null })],
      ['start: queue is a number', () => start({ workflowType: 'x', queue: 7 })],
      ['start: NUL in a name', () => start({ workflowType: 'a\u0000b' })],
      ['start: retry is a string', () => start({ workflowType: 'x', retry: 'always' })],
      ['start: maxAttempts 0', () => start({ workflowType: 'x', retry: { maxAttempts: 0 } })],
      ['start: maxAttempts fractional', () => start({ workflowType: 'x', retry: { maxAttempts: 1.5 } })],
      ['start: negative interval', () => start({ workflowType: 'x', retry: { initialIntervalMs: -1 } })],
      ['start: interval text', () => start({ workflowType: 'x', retry: { initialIntervalMs: 'soon' } })],
      ['start: coefficient text', () => start({ workflowType: 'x', retry: { backoffCoefficient: 'x' } })],
      ['start: nonRetryableErrors not a list', () => start({ workflowType: 'x', retry: { nonRetryableErrors: 'E' } })],
      ['start: negative timeout', () => start({ workflowType: 'x', timeoutMs: -1 })],
      ['start: zero timeout', () => start({ workflowType: 'x', timeoutMs: 0 })],
      ['start: timeout text', () => start({ workflowType: 'x', timeoutMs: 'later' })],
      ['start: timeout huge', () => start({ workflowType: 'x', timeoutMs: '9'.repeat(400) })],
      ['start: timeout object', () => start({ workflowType: 'x', timeoutMs: {} })],
      ['start: externalId object', () => start({ workflowType: 'x', externalId: { a: 1 } })],
      ['start: inputBase64 not base64', () => start({ workflowType: 'x', inputBase64: '!!!' })],
      ['start: inputBase64 a number', () => start({ workflowType: 'x', inputBase64: 5 })],
      ['start: NUL in namespace', () => start({ workflowType: 'x' }, 'a\u0000b')],
      [
        'start: input nested 10,000 deep',
        () =>
          h
            .http()
            .post(`${ns}/workflows`)
            .set('Content-Type', 'application/json')
            .send(`{"workflowType":"x","input":${'['.repeat(10_000)}${']'.repeat(10_000)}}`),
      ],
      ['start: bad percent-encoding in the path', () => h.http().get(`${ns}/workflows/%ZZ`)],
      ['list: pageSize text', () => h.http().get(`${ns}/workflows?pageSize=abc`)],
      ['list: pageSize too big', () => h.http().get(`${ns}/workflows?pageSize=100000`)],
      ['list: pageSize negative', () => h.http().get(`${ns}/workflows?pageSize=-1`)],
      ['list: bad pageToken', () => h.http().get(`${ns}/workflows?pageToken=garbage`)],
      ['list: bad status', () => h.http().get(`${ns}/workflows?status=BOGUS`)],
      ['list: repeated status', () => h.http().get(`${ns}/workflows?status=PENDING&status=FAILED`)],
      ['list: repeated pageToken', () => h.http().get(`${ns}/workflows?pageToken=a&pageToken=b`)],
      ['steps: bad pageToken', () => h.http().get(`${ns}/workflows/${uuid}/steps?pageToken=abc`)],
      ['steps: pageToken over int4', () => h.http().get(`${ns}/workflows/${existing}/steps?pageToken=2147483648`)],
      ['steps: repeated pageToken', () => h.http().get(`${ns}/workflows/${existing}/steps?pageToken=1&pageToken=2`)],
      [
        'steps: pageSize zero-padded huge',
        () => h.http().get(`${ns}/workflows/${existing}/steps?pageSize=0000000000101`),
      ],
      ['result: negative wait', () => h.http().get(`${ns}/workflows/${uuid}/result?waitMs=-1`)],
      ['result: wait text', () => h.http().get(`${ns}/workflows/${uuid}/result?waitMs=abc`)],
      ['register: no types', () => h.http().post(`${ns}/workers`).send({ queue: 'q' })],
      ['register: types a string', () => h.http().post(`${ns}/workers`).send({ queue: 'q', workflowTypes: 'x' })],
      [
        'register: maxConcurrent text',
        () =>
          h
            .http()
            .post(`${ns}/workers`)
            .send({ workflowTypes: ['x'], maxConcurrent: 'x' }),
      ],
      [
        'register: typeConcurrency text',
        () =>
          h
            .http()
            .post(`${ns}/workers`)
            .send({ workflowTypes: ['x'], typeConcurrency: 'ab' }),
      ],
      [
        'register: label not text',
        () =>
          h
            .http()
            .post(`${ns}/workers`)
            .send({ workflowTypes: ['x'], labels: { a: 5 } }),
      ],
      [
        'register: pid text',
        () =>
          h
            .http()
            .post(`${ns}/workers`)
            .send({ workflowTypes: ['x'], pid: 'x' }),
      ],
      ['heartbeat: bad worker id', () => h.http().post(`${ns}/workers/nope/heartbeat`).send({})],
      [
        'heartbeat: bad run ids',
        () =>
          h
            .http()
            .post(`${ns}/workers/${uuid}/heartbeat`)
            .send({ activeRunIds: ['x'] }),
      ],
      [
        'heartbeat: run ids not a list',
        () => h.http().post(`${ns}/workers/${uuid}/heartbeat`).send({ activeRunIds: 'x' }),
      ],
      ['deregister: unknown worker', () => h.http().delete(`${ns}/workers/${uuid}`)],
      [
        'poll: unknown worker',
        () =>
          h
            .http()
            .post(`${ns}/workers/${uuid}/poll`)
            .send({ queue: 'q', workflowTypes: ['x'] }),
      ],
      [
        'poll: no queue',
        () =>
          h
            .http()
            .post(`${ns}/workers/${uuid}/poll`)
            .send({ workflowTypes: ['x'] }),
      ],
      [
        'poll: types not names',
        () =>
          h
            .http()
            .post(`${ns}/workers/${uuid}/poll`)
            .send({ queue: 'q', workflowTypes: [1] }),
      ],
      ['begin: no lease', () => h.http().post(`${ns}/workflows/${uuid}/steps/s/begin`).send({})],
      [
        'begin: lease epoch text',
        () => h.http().post(`${ns}/workflows/${uuid}/steps/s/begin`).send({ workerId: uuid, leaseEpoch: 'x', seq: 0 }),
      ],
      [
        'begin: negative seq',
        () => h.http().post(`${ns}/workflows/${uuid}/steps/s/begin`).send({ workerId: uuid, leaseEpoch: 1, seq: -1 }),
      ],
      [
        'begin: unknown run',
        () => h.http().post(`${ns}/workflows/${uuid}/steps/s/begin`).send({ workerId: uuid, leaseEpoch: 1, seq: 0 }),
      ],
      [
        'complete: unknown run',
        () => h.http().post(`${ns}/workflows/${uuid}/steps/s/complete`).send({ workerId: uuid, leaseEpoch: 1, seq: 0 }),
      ],
      [
        'fail: error not an object',
        () => h.http().post(`${ns}/workflows/${uuid}/steps/s/fail`).send({ workerId: uuid, leaseEpoch: 1, error: 'x' }),
      ],
      [
        'sleep: negative',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/sleep`)
            .send({ workerId: uuid, leaseEpoch: 1, stepId: 's', durationMs: -1 }),
      ],
      [
        'sleep: over 30 days',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/sleep`)
            .send({ workerId: uuid, leaseEpoch: 1, stepId: 's', durationMs: '31d' }),
      ],
      [
        'sleep: text',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/sleep`)
            .send({ workerId: uuid, leaseEpoch: 1, stepId: 's', durationMs: 'zz' }),
      ],
      [
        'complete workflow: unknown run',
        () => h.http().post(`${ns}/workflows/${uuid}/complete`).send({ workerId: uuid, leaseEpoch: 1 }),
      ],
      [
        'fail workflow: unknown run',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/fail`)
            .send({ workerId: uuid, leaseEpoch: 1, error: { message: 'x' } }),
      ],
      ['admin: bad worker id', () => h.http().get(`${ns}/workers/nope`)],
      ['admin: unknown worker', () => h.http().get(`${ns}/workers/${uuid}`)],
    ];
    const failures: string[] = [];
    for (const [name, send] of requests) {
      const res = await send();
      const ok = res.status >= 400 && res.status < 500 && res.body?.error?.code && res.body.error.code !== 'INTERNAL';
      if (!ok) failures.push(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
    }
    expect(failures).toEqual([]);

    // The same over gRPC: every refusal carries a Baton error code, none INTERNAL.
    const grpc: Array<[string, string, object]> = [
      [
        'Start: bad encoding',
        'Start',
        { namespace: 'default', workflowType: 'x', input: { data: Buffer.from('1'), encoding: 'xml' } },
      ],
      ['Start: no namespace', 'Start', { workflowType: 'x' }],
      ['Start: huge timeout', 'Start', { namespace: 'default', workflowType: 'x', timeoutMs: Number.MAX_SAFE_INTEGER }],
      ['Start: negative maxAttempts', 'Start', { namespace: 'default', workflowType: 'x', retry: { maxAttempts: -1 } }],
      ['Get: empty id', 'Get', { namespace: 'default', runId: '' }],
      ['List: page too big', 'List', { namespace: 'default', pageSize: 100000 }],
      ['List: bad token', 'List', { namespace: 'default', pageToken: '!!' }],
      ['ListSteps: token over int4', 'ListSteps', { namespace: 'default', runId: existing, pageToken: '2147483648' }],
      ['WaitResult: negative wait', 'WaitResult', { namespace: 'default', runId: uuid, waitMs: -5 }],
      ['Cancel: unknown', 'Cancel', { namespace: 'default', runId: uuid }],
    ];
    const grpcFailures: string[] = [];
    for (const [name, method, request] of grpc) {
      const err = await transport.call('workflow', method, request).then(
        () => null,
        (e: unknown) => e,
      );
      if (!(err instanceof BatonError) || err.code === 'INTERNAL' || err.code === 'UNAVAILABLE') {
        grpcFailures.push(`${name}: ${err instanceof BatonError ? `${err.code} ${err.message}` : 'accepted'}`);
      }
    }
    const worker: Array<[string, string, object]> = [
      ['Register: no types', 'Register', { namespace: 'default', queue: 'q' }],
      ['PollTask: bad worker', 'PollTask', { namespace: 'default', queue: 'q', workerId: 'x', workflowTypes: ['a'] }],
      ['BeginStep: no lease', 'BeginStep', { stepId: 's', seq: 0 }],
      [
        'BeginStep: unknown run',
        'BeginStep',
        { lease: { namespace: 'default', runId: uuid, workerId: uuid, leaseEpoch: 1 }, stepId: 's' },
      ],
      [
        'Sleep: too long',
        'Sleep',
        {
          lease: { namespace: 'default', runId: uuid, workerId: uuid, leaseEpoch: 1 },
          stepId: 's',
          durationMs: 2_592_000_001,
        },
      ],
      ['Heartbeat: bad ids', 'Heartbeat', { namespace: 'default', workerId: uuid, activeRunIds: ['nope'] }],
    ];
    for (const [name, method, request] of worker) {
      const err = await transport.call('worker', method, request).then(
        () => null,
        (e: unknown) => e,
      );
      if (!(err instanceof BatonError) || err.code === 'INTERNAL' || err.code === 'UNAVAILABLE') {
        grpcFailures.push(`${name}: ${err instanceof BatonError ? `${err.code} ${err.message}` : 'accepted'}`);
      }
    }
    expect(grpcFailures).toEqual([]);
    expect((await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_type = 'x'`))[0]!.n).toBe(0);
  });
});
