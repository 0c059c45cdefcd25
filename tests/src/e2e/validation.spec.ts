import { randomUUID } from 'node:crypto';
import { Client as GrpcClient, Metadata, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { GRPC_ERROR_METADATA } from '@baton/contracts';
import { BatonError, NonRetryableError, Transport, WorkflowFailedError } from '@baton/sdk';
import type { Response } from 'supertest';
import { TestHarness, rawCall, waitFor } from '../index';
import { RawWorker } from '../harness/protocol';

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

/** A run-list page token as the server writes it, with its parts replaced. */
const runsToken = (t: string, i: string = randomUUID()) =>
  Buffer.from(JSON.stringify({ t, i }), 'utf8').toString('base64url');

/** One unary call with hand-made request bytes: what any gRPC client (not only ours) can send. */
function rawGrpc(address: string, path: string, bytes: Buffer): Promise<ServiceError | null> {
  const client = new GrpcClient(address, credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (err) => {
        client.close();
        resolve(err);
      },
    );
  });
}

/** A length-delimited protobuf field (tag, length, bytes). */
function pbField(tag: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (bytes.length > 127) throw new Error('keep hand-made fields short');
  return Buffer.concat([Buffer.from([(tag << 3) | 2, bytes.length]), bytes]);
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
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/steps/s/begin`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, seq: -1 }),
      ],
      [
        'begin: unknown run',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/steps/s/begin`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, seq: 0 }),
      ],
      [
        'complete: unknown run',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/steps/s/complete`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, seq: 0 }),
      ],
      [
        'fail: error not an object',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/steps/s/fail`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, error: 'x' }),
      ],
      [
        'sleep: negative',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/sleep`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, stepId: 's', durationMs: -1 }),
      ],
      [
        'sleep: over 30 days',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/sleep`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, stepId: 's', durationMs: '31d' }),
      ],
      [
        'sleep: text',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/sleep`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, stepId: 's', durationMs: 'zz' }),
      ],
      [
        'complete workflow: unknown run',
        () =>
          h.http().post(`${ns}/workflows/${uuid}/complete`).send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid }),
      ],
      [
        'fail workflow: unknown run',
        () =>
          h
            .http()
            .post(`${ns}/workflows/${uuid}/fail`)
            .send({ workerId: uuid, leaseEpoch: 1, leaseToken: uuid, error: { message: 'x' } }),
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
      const err = await rawCall(transport, 'workflow', method, request).then(
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
        { lease: { namespace: 'default', runId: uuid, workerId: uuid, leaseEpoch: 1, leaseToken: uuid }, stepId: 's' },
      ],
      [
        'Sleep: too long',
        'Sleep',
        {
          lease: { namespace: 'default', runId: uuid, workerId: uuid, leaseEpoch: 1, leaseToken: uuid },
          stepId: 's',
          durationMs: 2_592_000_001,
        },
      ],
      ['Heartbeat: bad ids', 'Heartbeat', { namespace: 'default', workerId: uuid, activeRunIds: ['nope'] }],
    ];
    for (const [name, method, request] of worker) {
      const err = await rawCall(transport, 'worker', method, request).then(
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

  const count = async (table: string) => (await h.query(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n as number;

  test('lone surrogates and NULs in names and ids are refused the same over HTTP and gRPC, never stored', async () => {
    const runsBefore = await count('workflow_runs');
    const bad = ['a\ud800b', '\udc00', 'x\u0000y', '\ud83d'];
    for (const field of ['workflowType', 'queue', 'externalId', 'correlationId', 'traceId']) {
      for (const value of bad) {
        const body = { workflowType: 'ok-type', [field]: value };
        expectHttpError(await start(body), 400, 'INVALID_ARGUMENT', field);
        const err = await grpcError(transport.call('workflow', 'Start', { namespace: 'default', ...body }));
        expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field });
      }
    }
    // In a retry policy too.
    const retry = { nonRetryableErrors: ['Fine', 'Bad\ud800'] };
    expectHttpError(
      await start({ workflowType: 'ok-type', retry }),
      400,
      'INVALID_ARGUMENT',
      'retry.nonRetryableErrors[1]',
    );
    const err = await grpcError(
      transport.call('workflow', 'Start', { namespace: 'default', workflowType: 'ok-type', retry }),
    );
    expect({ code: err.code, field: err.field }).toEqual({
      code: 'INVALID_ARGUMENT',
      field: 'retry.nonRetryableErrors[1]',
    });
    // The SDK refuses them before sending: protobuf would turn a long one into U+FFFD, and two ids into one.
    const long = 'k'.repeat(60);
    for (const externalId of [`${long}\ud800`, `${long}\udbff`]) {
      const refused = await grpcError(h.client().start('ok-type', 1, { externalId }));
      expect({ code: refused.code, field: refused.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'externalId' });
    }
    // Run ids and worker ids in paths and lease fields.
    const id = randomUUID();
    expectHttpError(await h.http().get(`/v1/namespaces/default/workflows/${id}%00`), 400, 'INVALID_ARGUMENT', 'runId');
    expectHttpError(await h.http().get(`/v1/namespaces/default/workflows/%ED%A0%80`), 400, 'INVALID_ARGUMENT', 'path');
    expect(await count('workflow_runs')).toBe(runsBefore);
  });

  test('labels or type limits given as text are refused naming the field, never read as characters', async () => {
    const workersBefore = await count('workers');
    const register = (body: object) => h.http().post('/v1/namespaces/default/workers').send(body);
    for (const labels of ['😀', 'ab', ['x'], 5, true]) {
      expectHttpError(await register({ workflowTypes: ['x'], labels }), 400, 'INVALID_ARGUMENT', 'labels');
    }
    for (const typeConcurrency of ['😀', ['x'], 7]) {
      expectHttpError(
        await register({ workflowTypes: ['x'], typeConcurrency }),
        400,
        'INVALID_ARGUMENT',
        'typeConcurrency',
      );
    }
    expectHttpError(
      await register({ workflowTypes: ['x'], labels: { 'k\u0000': 'v' } }),
      400,
      'INVALID_ARGUMENT',
      'labels',
    );
    expectHttpError(
      await register({ workflowTypes: ['x'], labels: { k: 'v\ud800' } }),
      400,
      'INVALID_ARGUMENT',
      'labels.k',
    );
    const err = await grpcError(
      transport.call('worker', 'Register', { namespace: 'default', workflowTypes: ['x'], labels: { k: 'v\ud800' } }),
    );
    expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'labels.k' });
    // A non-ASCII key cannot travel in a gRPC header: the map is named, on both transports alike.
    const emoji = await grpcError(
      transport.call('worker', 'Register', { namespace: 'default', workflowTypes: ['x'], labels: { '😀': 'a\u0000' } }),
    );
    expect({ code: emoji.code, field: emoji.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'labels' });
    expectHttpError(
      await register({ workflowTypes: ['x'], labels: { '😀': 'a\u0000' } }),
      400,
      'INVALID_ARGUMENT',
      'labels',
    );
    expect(await count('workers')).toBe(workersBefore);
  });

  test('5,000-deep nesting anywhere in a body is refused before anything reads it', async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    const id = randomUUID();
    const send = (path: string, text: string) =>
      h.http().post(`/v1/namespaces/default${path}`).set('Content-Type', 'application/json').send(text);
    expectHttpError(
      await send('/workflows', `{"workflowType":"x","externalId":${deep(5_000)}}`),
      400,
      'INVALID_ARGUMENT',
      'externalId',
    );
    expectHttpError(
      await send('/workflows', `{"workflowType":"x","input":${deep(5_000)}}`),
      400,
      'INVALID_ARGUMENT',
      'input',
    );
    expectHttpError(
      await send(`/workflows/${id}/steps/s/begin`, `{"workerId":${deep(5_000)},"leaseEpoch":1}`),
      400,
      'INVALID_ARGUMENT',
      'workerId',
    );
    expectHttpError(
      await send(`/workers/${id}/heartbeat`, `{"activeRunIds":${deep(5_000)}}`),
      400,
      'INVALID_ARGUMENT',
      'activeRunIds',
    );
    // Real data nests far less deeply than the limit and is accepted.
    const res = await send('/workflows', `{"workflowType":"deep-ok","input":${deep(100)}}`);
    expect(res.status).toBe(201);
    expect((await h.http().get(`/v1/namespaces/default/workflows/${res.body.run.id}`)).status).toBe(200);
  });

  test('forged page tokens are INVALID_ARGUMENT naming pageToken over HTTP and gRPC', async () => {
    const run = await h.client().start('tokens', 1);
    const runTokens = [
      runsToken('2026-01-02 03:04:05.123456+16'), // an offset PostgreSQL refuses
      runsToken('2026-01-02 03:04:05.123456+99'),
      runsToken('2026-01-02 03:04:05+15:60'),
      runsToken('2026-02-30 03:04:05+00'),
      runsToken('2026-01-02 03:04:05+00\u0000'),
      runsToken('2026-01-02 03:04:05+00', 'not-a-uuid'),
      'a\u0000b',
    ];
    for (const pageToken of runTokens) {
      const res = await h.http().get('/v1/namespaces/default/workflows').query({ pageToken });
      expectHttpError(res, 400, 'INVALID_ARGUMENT', 'pageToken');
      const err = await grpcError(transport.call('workflow', 'List', { namespace: 'default', pageToken }));
      expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'pageToken' });
    }
    const scheduleTokens = ['{"s":"a\\u0000b"}', '{"s":""}', '{"s":5}', '[]'].map((t) =>
      Buffer.from(t).toString('base64url'),
    );
    for (const pageToken of [...scheduleTokens, 'a\u0000']) {
      const res = await h.http().get('/v1/namespaces/default/schedules').query({ pageToken });
      expectHttpError(res, 400, 'INVALID_ARGUMENT', 'pageToken');
      const err = await grpcError(transport.call('schedule', 'List', { namespace: 'default', pageToken }));
      expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'pageToken' });
    }
    for (const pageToken of ['2147483648', '-1', '1\u0000']) {
      const res = await h.http().get(`/v1/namespaces/default/workflows/${run.id}/steps`).query({ pageToken });
      expectHttpError(res, 400, 'INVALID_ARGUMENT', 'pageToken');
    }
    // A token the server wrote still works.
    for (let i = 0; i < 3; i++) await h.client().start('tokens', i);
    const first = await h.http().get('/v1/namespaces/default/workflows').query({ workflowType: 'tokens', pageSize: 2 });
    expect(first.body.nextPageToken).toEqual(expect.any(String));
    const next = await h
      .http()
      .get('/v1/namespaces/default/workflows')
      .query({ workflowType: 'tokens', pageSize: 2, pageToken: first.body.nextPageToken });
    expect(next.status).toBe(200);
    expect(next.body.runs).toHaveLength(2);
  });

  test('undecodable protobuf is INVALID_ARGUMENT naming the field, not INTERNAL', async () => {
    const cases: Array<[string, Buffer, string]> = [
      ['/baton.v1.WorkflowService/Start', Buffer.from([0x0a, 0x7f, 0x61]), 'body'], // length past the end
      ['/baton.v1.WorkflowService/Get', Buffer.from([0x0b, 0x0c]), 'body'], // a proto2 group
      [
        '/baton.v1.ScheduleService/List',
        Buffer.from([0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        'body',
      ],
      ['/baton.v1.AdminService/GetWorker', Buffer.from([0x00, 0x01]), 'body'], // field number 0
      // Not UTF-8 where text goes: a lone surrogate as a JavaScript encoder writes it, a stray byte.
      [
        '/baton.v1.WorkflowService/Start',
        Buffer.concat([pbField(1, 'default'), pbField(2, Buffer.from([0xed, 0xa0, 0x80]))]),
        'workflowType',
      ],
      [
        '/baton.v1.WorkerService/Heartbeat',
        Buffer.concat([pbField(1, 'default'), pbField(2, Buffer.from([0xff]))]),
        'workerId',
      ],
      // A string field sent as a number.
      ['/baton.v1.WorkflowService/Get', Buffer.from([0x08, 0x05]), 'namespace'],
      // Garbage inside the lease.
      ['/baton.v1.WorkerService/CompleteWorkflow', pbField(1, Buffer.from([0x0a, 0x7f])), 'lease'],
    ];
    for (const [path, bytes, field] of cases) {
      const err = await rawGrpc(h.grpcAddress, path, bytes);
      expect({ path, code: err?.code, field: err?.metadata.get(GRPC_ERROR_METADATA.field)[0] }).toEqual({
        path,
        code: GrpcStatus.INVALID_ARGUMENT,
        field,
      });
    }
  });

  test('bytes labelled JSON that do not parse are refused naming the payload', async () => {
    const runsBefore = await count('workflow_runs');
    const lease = {
      namespace: 'default',
      runId: randomUUID(),
      workerId: randomUUID(),
      leaseEpoch: 1,
      leaseToken: randomUUID(),
    };
    for (const text of ['{', 'undefined', "{'a':1}", 'NaN', '\u0000']) {
      for (const encoding of ['json', '']) {
        const input = { data: Buffer.from(text), encoding };
        const start = await grpcError(
          transport.call('workflow', 'Start', { namespace: 'default', workflowType: 'j', input }),
        );
        expect({ code: start.code, field: start.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'input' });
        const output = await grpcError(transport.call('worker', 'CompleteWorkflow', { lease, output: input }));
        expect({ code: output.code, field: output.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'output' });
        const schedule = await grpcError(
          transport.call('schedule', 'Create', {
            namespace: 'default',
            scheduleId: 'j',
            workflowType: 'j',
            cron: '* * * * *',
            input,
          }),
        );
        expect({ code: schedule.code, field: schedule.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'input' });
      }
    }
    // Binary bytes are anything; JSON bytes that parse are fine, and so are no bytes at all.
    await transport.call('workflow', 'Start', {
      namespace: 'default',
      workflowType: 'j',
      input: { data: Buffer.from('{'), encoding: 'binary' },
    });
    await transport.call('workflow', 'Start', {
      namespace: 'default',
      workflowType: 'j',
      input: { data: Buffer.from('{"a":1}'), encoding: 'json' },
    });
    await transport.call('workflow', 'Start', { namespace: 'default', workflowType: 'j', input: { encoding: 'json' } });
    expect(await count('workflow_runs')).toBe(runsBefore + 3);
  });

  test('unknown fields are refused naming the field, and nothing starts elsewhere', async () => {
    const runsBefore = await count('workflow_runs');
    expectHttpError(
      await start({ workflowType: 'unknown-fields', queueName: 'x' }),
      400,
      'INVALID_ARGUMENT',
      'queueName',
    );
    expectHttpError(
      await start({ workflowType: 'unknown-fields', retry: { initialIntervall: 5 } }),
      400,
      'INVALID_ARGUMENT',
      'retry.initialIntervall',
    );
    expectHttpError(
      await h.http().get('/v1/namespaces/default/workflows').query({ workflowTyp: 'x' }),
      400,
      'INVALID_ARGUMENT',
      'workflowTyp',
    );
    expectHttpError(
      await h
        .http()
        .post('/v1/namespaces/default/workers')
        .send({ workflowTypes: ['x'], labelz: {} }),
      400,
      'INVALID_ARGUMENT',
      'labelz',
    );
    const id = randomUUID();
    expectHttpError(
      await h
        .http()
        .post(`/v1/namespaces/default/workflows/${id}/fail`)
        .send({ workerId: id, leaseEpoch: 1, error: { mesage: 'x' } }),
      400,
      'INVALID_ARGUMENT',
      'error.mesage',
    );
    expectHttpError(
      await h.http().post(`/v1/namespaces/default/workflows/${id}/cancel`).send({ force: true }),
      400,
      'INVALID_ARGUMENT',
      'force',
    );
    // The SDK refuses them too rather than dropping them on the wire.
    const sdk = await grpcError(h.client().start('unknown-fields', 1, { queueName: 'x' } as object));
    expect({ code: sdk.code, field: sdk.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'options.queueName' });
    expect(await count('workflow_runs')).toBe(runsBefore);
  });

  test('wrong types are refused: paused must be a boolean', async () => {
    const schedulesBefore = await count('schedules');
    const create = (body: object) => h.http().post('/v1/namespaces/default/schedules').send(body);
    const base = { workflowType: 'tick', cron: '0 0 1 1 *' };
    for (const paused of ['true', 'false', 1, 0, {}, []]) {
      expectHttpError(await create({ ...base, scheduleId: h.unique('p'), paused }), 400, 'INVALID_ARGUMENT', 'paused');
    }
    const sdk = await grpcError(
      h.client().schedules.create({ ...base, scheduleId: h.unique('p'), paused: 'false' as unknown as boolean }),
    );
    expect({ code: sdk.code, field: sdk.field }).toEqual({ code: 'INVALID_ARGUMENT', field: 'paused' });
    expect(await count('schedules')).toBe(schedulesBefore);
    const paused = await create({ ...base, scheduleId: h.unique('p'), paused: true });
    expect(paused.status).toBe(201);
    expect(paused.body).toMatchObject({ paused: true });
    // A bad field is named even for a schedule that does not exist (checked before any lookup).
    expectHttpError(
      await h.http().patch('/v1/namespaces/default/schedules/nope').send({ cron: 'x' }),
      400,
      'INVALID_ARGUMENT',
      'cron',
    );
  });

  test("a NUL in a worker's error message, type or stack is stored (escaped) and the run still fails", async () => {
    // Over the HTTP worker protocol: a step failure with NULs everywhere is recorded, not lost.
    const queue = h.unique();
    const raw = await RawWorker.register(h, { queue, workflowTypes: ['nul-step'] });
    try {
      const run = await h.client().start('nul-step', null, { queue, retry: { maxAttempts: 1 } });
      const task = await raw.nextTask();
      expect((await raw.begin(task, 's', 0)).status).toBe(200);
      const failed = await raw.fail(task, 's', 0, {
        message: 'bad\u0000thing',
        type: 'T\u0000',
        stack: 'at\u0000x\ud800',
      });
      expect(failed.status).toBe(200);
      const [step] = await h.query(`SELECT error_message, error_type, error_stack FROM step_runs WHERE run_id = $1`, [
        run.id,
      ]);
      expect(step).toEqual({
        error_message: 'bad\\u0000thing',
        error_type: 'T\\u0000',
        error_stack: 'at\\u0000x\\ud800',
      });
    } finally {
      await raw.stop();
    }

    // Through the SDK: a NonRetryableError with a NUL fails the run at once (it does not stay RUNNING).
    const sdkQueue = h.unique();
    const worker = h.worker({ queue: sdkQueue });
    worker.register('nul-workflow', async () => {
      throw new NonRetryableError('no\u0000way', 'Bad\u0000Type');
    });
    worker.register('nul-step-sdk', async (ctx) =>
      ctx.step(
        's',
        async () => {
          throw new Error('step\u0000failed');
        },
        { retry: { maxAttempts: 1 } },
      ),
    );
    await worker.start();
    const client = h.client();
    const a = await client.start('nul-workflow', null, { queue: sdkQueue });
    const b = await client.start('nul-step-sdk', null, { queue: sdkQueue, retry: { maxAttempts: 1 } });
    const errA = await client.result(a.id, { timeout: '20s' }).catch((e: unknown) => e);
    expect(errA).toBeInstanceOf(WorkflowFailedError);
    expect(errA).toMatchObject({ message: 'no\\u0000way', errorType: 'Bad\\u0000Type' });
    const errB = await client.result(b.id, { timeout: '20s' }).catch((e: unknown) => e);
    expect(errB).toBeInstanceOf(WorkflowFailedError);
    expect((errB as Error).message).toContain('step\\u0000failed');
    await waitFor(
      async () => (await h.query(`SELECT status FROM workflow_runs WHERE id = $1`, [a.id]))[0]?.status === 'FAILED',
      'the run FAILED',
    );
  });

  test("the SDK takes DESIGN §13's retry names (initialInterval, maxInterval) as durations and refuses unknown keys", async () => {
    const client = h.client();
    const queue = h.unique();
    const retryOf = async (id: string) => (await h.http().get(`/v1/namespaces/default/workflows/${id}`)).body.retry;

    const named = await client.start('retry-names', null, {
      queue,
      retry: { maxAttempts: 4, initialInterval: '1s', maxInterval: 5_000, backoffCoefficient: 3 },
    });
    expect(await retryOf(named.id)).toEqual({
      maxAttempts: 4,
      initialIntervalMs: 1_000,
      maxIntervalMs: 5_000,
      backoffCoefficient: 3,
    });
    const ms = await client.start('retry-names', null, {
      queue,
      retry: { initialIntervalMs: 250, maxIntervalMs: 900 },
    });
    expect(await retryOf(ms.id)).toEqual({ initialIntervalMs: 250, maxIntervalMs: 900 });
    const text = await client.start('retry-names', null, {
      queue,
      retry: { initialInterval: '1m30s', maxInterval: '2h' },
    });
    expect(await retryOf(text.id)).toEqual({ initialIntervalMs: 90_000, maxIntervalMs: 7_200_000 });

    const runsBefore = await count('workflow_runs');
    for (const [retry, field] of [
      [{ initialIntervall: '1s' }, 'retry.initialIntervall'],
      [{ initialInterval: '1s', initialIntervalMs: 1000 }, 'retry.initialInterval'],
      [{ maxInterval: 'soon' }, 'retry.maxInterval'],
      [{ maxAttempts: '3' }, 'retry.maxAttempts'],
    ] as Array<[object, string]>) {
      const err = await grpcError(client.start('retry-names', null, { queue, retry }));
      expect({ code: err.code, field: err.field }).toEqual({ code: 'INVALID_ARGUMENT', field });
    }
    expect(await count('workflow_runs')).toBe(runsBefore);

    // The HTTP API takes the same names.
    const res = await start({
      workflowType: 'retry-names',
      queue,
      retry: { initialInterval: '2s', maxInterval: '10s' },
    });
    expect(res.status).toBe(201);
    expect(res.body.run.retry).toEqual({ initialIntervalMs: 2_000, maxIntervalMs: 10_000 });
  });
});
