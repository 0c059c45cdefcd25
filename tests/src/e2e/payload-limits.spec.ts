import { createHash, randomBytes } from 'node:crypto';
import { Client as GrpcClient, Metadata, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { BatonError, StepFailedError, Transport, WorkflowFailedError } from '@baton/sdk';
import { INPUT_LIMITS } from '@baton/contracts';
import { TestHarness, waitFor } from '../index';

/** DESIGN §13: 2,097,152 bytes, inclusive. */
const LIMIT = 2_097_152;

const sha = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

/** A JSON value whose encoding is exactly `bytes` long, with multi-byte characters in it. */
function jsonOfSize(bytes: number): { text: string; tail: string } {
  const shell = Buffer.byteLength(JSON.stringify({ text: '', tail: '' }));
  const twoByteChars = Math.floor((bytes - shell) / 2) - 10;
  const text = 'é'.repeat(twoByteChars);
  const tail = 'x'.repeat(bytes - shell - Buffer.byteLength(text));
  const value = { text, tail };
  expect(Buffer.byteLength(JSON.stringify(value))).toBe(bytes);
  return value;
}

/** A server refusal, or a run's failure (which names its error type). */
type Failure = BatonError & { errorType?: string | null };

/** What the promise rejected with (an Error saying so if it resolved), read as the failure it should be. */
async function failure(promise: Promise<unknown>): Promise<Failure> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${typeof value}`) as Failure,
    (err: unknown) => err as Failure,
  );
}

/** Protobuf by hand (length-delimited fields only), to see the raw gRPC status a plain gRPC client gets. */
function field(tag: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 127) {
      out.push((n & 127) | 128);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return Buffer.from(out);
  };
  return Buffer.concat([varint((tag << 3) | 2), varint(bytes.length), bytes]);
}

function rawStart(address: string, workflowType: string, data: Buffer): Promise<ServiceError | null> {
  const request = Buffer.concat([
    field(1, 'default'),
    field(2, workflowType),
    field(4, Buffer.concat([field(1, data), field(2, 'binary')])),
  ]);
  const client = new GrpcClient(address, credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/baton.v1.WorkflowService/Start',
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err) => {
        client.close();
        resolve(err);
      },
    );
  });
}

/** A worker speaking the gRPC protocol by hand (heartbeating, so it stays ONLINE), holding one run. */
async function claimByHand(
  h: TestHarness,
  client: { start: (t: string, i: unknown, o: object) => Promise<{ id: string }> },
) {
  const queue = h.unique();
  const transport = new Transport(h.grpcAddress);
  const { workerId } = await transport.call('worker', 'Register', {
    namespace: 'default',
    queue,
    workflowTypes: ['raw'],
    hostname: `raw-${queue}`,
    pid: 1,
  });
  const run = await client.start('raw', null, { queue });
  const heartbeat = setInterval(() => {
    transport
      .call('worker', 'Heartbeat', { namespace: 'default', workerId, activeRunIds: [run.id] })
      .catch(() => undefined);
  }, 300);
  const task = await waitFor(
    async () =>
      (await transport.call('worker', 'PollTask', { namespace: 'default', queue, workerId, workflowTypes: ['raw'] }))
        .task ?? null,
    'a task',
    { intervalMs: 0 },
  );
  const lease = {
    namespace: 'default',
    runId: run.id,
    workerId,
    leaseEpoch: task.leaseEpoch as number,
    leaseToken: task.leaseToken as string,
  };
  const close = async () => {
    clearInterval(heartbeat);
    await transport.call('worker', 'Deregister', { namespace: 'default', workerId }).catch(() => undefined);
    transport.close();
  };
  return { transport, run, workerId, lease, leaseEpoch: task.leaseEpoch as number, close };
}

async function countRuns(h: TestHarness, workflowType: string): Promise<number> {
  const [row] = await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE workflow_type = $1`, [workflowType]);
  return row!.n;
}

describe('8.1 payload size limits', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Megabyte payloads are slow to move on a busy machine: the product's default lease (30 s),
    // not the harness's short one, so a slow delivery is not mistaken for a lost worker.
    h = await TestHarness.start({ leaseDurationSecs: 30 });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('workflow_input_at_limit_accepted', async () => {
    const queue = h.unique();
    const received: Array<{ kind: string; length: number; digest: string }> = [];
    const worker = h.worker({ queue });
    worker.register('digest', async (_ctx, input: unknown) => {
      const encoded = Buffer.isBuffer(input) ? input : Buffer.from(JSON.stringify(input));
      const entry = { kind: Buffer.isBuffer(input) ? 'binary' : 'json', length: encoded.length, digest: sha(encoded) };
      received.push(entry);
      return entry;
    });
    await worker.start();
    const client = h.client();

    const binary = randomBytes(LIMIT);
    const json = jsonOfSize(LIMIT);
    const jsonBytes = Buffer.from(JSON.stringify(json));
    const binaryRun = await client.start('digest', binary, { queue });
    const jsonRun = await client.start('digest', json, { queue });
    // Accepted: PENDING, or already RUNNING when the worker's poll was waiting (eager dispatch).
    expect(['PENDING', 'RUNNING']).toContain(binaryRun.run.status);

    await expect(client.result(binaryRun.id, { timeout: '30s' })).resolves.toEqual({
      kind: 'binary',
      length: LIMIT,
      digest: sha(binary),
    });
    await expect(client.result(jsonRun.id, { timeout: '30s' })).resolves.toEqual({
      kind: 'json',
      length: LIMIT,
      digest: sha(jsonBytes),
    });
    // Stored byte for byte, and read back intact.
    const rows = await h.query(
      `SELECT run_id, octet_length(input) AS n, input_encoding FROM workflow_payloads WHERE run_id = ANY($1::uuid[])`,
      [[binaryRun.id, jsonRun.id]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.run_id, [r.n, r.input_encoding]]))).toEqual({
      [binaryRun.id]: [LIMIT, 'binary'],
      [jsonRun.id]: [LIMIT, 'json'],
    });
    const back = await client.get(binaryRun.id);
    expect(sha(back.input as Buffer)).toBe(sha(binary));
    expect((await client.get(jsonRun.id)).input).toEqual(json);

    // Over HTTP, the same limits: a JSON value and base64 bytes of exactly the limit.
    const viaJson = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: 'digest', queue, input: json });
    expect(viaJson.status).toBe(201);
    const viaBase64 = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: 'digest', queue, inputBase64: binary.toString('base64') });
    expect(viaBase64.status).toBe(201);
    await expect(client.result(viaJson.body.run.id, { timeout: '30s' })).resolves.toMatchObject({
      length: LIMIT,
      digest: sha(jsonBytes),
    });
    await expect(client.result(viaBase64.body.run.id, { timeout: '30s' })).resolves.toMatchObject({
      length: LIMIT,
      digest: sha(binary),
    });
    // Every delivery was intact (a run may be delivered again if its lease lapsed under load).
    expect(received.length).toBeGreaterThanOrEqual(4);
    for (const entry of received) {
      expect(entry.length).toBe(LIMIT);
      expect([sha(binary), sha(jsonBytes)]).toContain(entry.digest);
    }
  });

  test('workflow_input_over_limit_rejected', async () => {
    const client = h.client();
    const type = h.unique('too-big');
    const limitText = String(LIMIT);

    // SDK (gRPC): binary and JSON one byte over.
    const binaryErr = await failure(client.start(type, randomBytes(LIMIT + 1)));
    expect(binaryErr).toBeInstanceOf(BatonError);
    expect(binaryErr).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'input' });
    expect(binaryErr.message).toContain(limitText);
    expect(binaryErr.message).toContain(String(LIMIT + 1));
    const jsonErr = await failure(client.start(type, jsonOfSize(LIMIT + 1)));
    expect(jsonErr).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'input' });
    expect(jsonErr.message).toContain(limitText);

    // A plain gRPC client sees INVALID_ARGUMENT, with the precise code and field in metadata.
    const raw = await rawStart(h.grpcAddress, type, randomBytes(LIMIT + 1));
    expect(raw).not.toBeNull();
    expect(raw!.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(raw!.details).toContain(limitText);
    expect(raw!.metadata.get('baton-error-code')).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(raw!.metadata.get('baton-error-field')).toEqual(['input']);
    // ... while one byte less is fine for it too.
    const atLimit = await rawStart(h.grpcAddress, `${type}-ok`, randomBytes(LIMIT));
    expect(atLimit).toBeNull();

    // HTTP: 413 with the error model, for a JSON value and for base64 bytes.
    const httpJson = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: type, input: jsonOfSize(LIMIT + 1) });
    expect(httpJson.status).toBe(413);
    expect(httpJson.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'input' });
    expect(httpJson.body.error.message).toContain(limitText);
    const httpB64 = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: type, inputBase64: randomBytes(LIMIT + 1).toString('base64') });
    expect(httpB64.status).toBe(413);
    expect(httpB64.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'input' });
    // A body far past any payload: still 413 in the same error model, not a dropped connection or a 500.
    const huge = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: type, input: 'x'.repeat(8 * LIMIT) });
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('PAYLOAD_TOO_LARGE');

    // Nothing was stored for any of them.
    expect(await countRuns(h, type)).toBe(0);
    expect(await countRuns(h, `${type}-ok`)).toBe(1);
  });

  test('step_output_over_limit_rejected', async () => {
    const queue = h.unique();
    const bodyCalls: Record<string, number> = { big: 0, caught: 0, atLimit: 0 };
    const worker = h.worker({ queue });
    worker.register('big-step', async (ctx) => {
      await ctx.step(
        'produce',
        () => {
          bodyCalls.big!++;
          return randomBytes(LIMIT + 1);
        },
        { retry: { maxAttempts: 3, initialIntervalMs: 50 } },
      );
      return 'unreachable';
    });
    worker.register('big-step-caught', async (ctx) => {
      try {
        await ctx.step('produce', () => {
          bodyCalls.caught!++;
          return { blob: 'y'.repeat(LIMIT) };
        });
      } catch (err) {
        return { caught: err instanceof StepFailedError, message: (err as Error).message };
      }
      return { caught: false };
    });
    // At the limit: stored, and handed back as is on replay (after the sleep).
    worker.register('step-at-limit', async (ctx) => {
      const blob = await ctx.step('produce', () => {
        bodyCalls.atLimit!++;
        return randomBytes(LIMIT);
      });
      await ctx.sleep('pause', 100);
      return { length: blob.length, digest: sha(blob) };
    });
    await worker.start();
    const client = h.client();

    const big = await client.start('big-step', null, { queue, retry: { maxAttempts: 3, initialIntervalMs: 50 } });
    const err = await failure(client.result(big.id, { timeout: '30s' }));
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(err.message).toContain(String(LIMIT));
    expect(err.errorType).toBe('PAYLOAD_TOO_LARGE');
    const [step] = await h.query(
      `SELECT status, final, attempt, error_type, error_message, output FROM step_runs WHERE run_id = $1`,
      [big.id],
    );
    expect(step).toMatchObject({
      status: 'FAILED',
      final: true,
      attempt: 1,
      error_type: 'PAYLOAD_TOO_LARGE',
      output: null,
    });
    expect(step!.error_message).toContain(String(LIMIT));
    // Retrying would produce the same output: neither the step nor the run is retried.
    expect(bodyCalls.big).toBe(1);
    expect((await client.get(big.id)).attempt).toBe(1);

    const caught = await client.start('big-step-caught', null, { queue });
    const caughtResult = await client.result<{ caught: boolean; message: string }>(caught.id, { timeout: '30s' });
    expect(caughtResult.caught).toBe(true);
    expect(caughtResult.message).toContain(String(LIMIT));

    const atLimit = await client.start('step-at-limit', null, { queue });
    const atLimitResult = await client.result<{ length: number; digest: string }>(atLimit.id, { timeout: '30s' });
    expect(atLimitResult.length).toBe(LIMIT);
    expect(bodyCalls.atLimit).toBe(1);
    const [stored] = await h.query(
      `SELECT octet_length(output) AS n, output FROM step_runs WHERE run_id = $1 AND step_id = 'produce'`,
      [atLimit.id],
    );
    expect(stored!.n).toBe(LIMIT);
    expect(atLimitResult.digest).toBe(sha(stored!.output));

    // By hand: CompleteStep with an oversized output is refused over gRPC and HTTP, nothing is
    // written, and the lease still holds (the worker can record a smaller output).
    const byHand = await claimByHand(h, client);
    const { transport, run, workerId, lease } = byHand;
    try {
      const grpcErr = await failure(
        transport.call('worker', 'CompleteStep', {
          lease,
          stepId: 'produce',
          seq: 0,
          output: { data: randomBytes(LIMIT + 1), encoding: 'binary' },
        }),
      );
      expect(grpcErr).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'output' });
      expect(grpcErr.message).toContain(String(LIMIT));
      const http = await h
        .http()
        .post(`/v1/namespaces/default/workflows/${run.id}/steps/produce/complete`)
        .send({
          workerId,
          leaseEpoch: lease.leaseEpoch,
          leaseToken: lease.leaseToken,
          seq: 0,
          outputBase64: randomBytes(LIMIT + 1).toString('base64'),
        });
      expect(http.status).toBe(413);
      expect(http.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'output' });
      expect(await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1`, [run.id])).toHaveLength(0);
      await transport.call('worker', 'CompleteStep', {
        lease,
        stepId: 'produce',
        seq: 0,
        output: { data: randomBytes(LIMIT), encoding: 'binary' },
      });
      await transport.call('worker', 'CompleteWorkflow', { lease });
      expect((await client.get(run.id)).status).toBe('COMPLETED');
    } finally {
      await byHand.close();
    }
  });

  test('workflow_output_over_limit_rejected', async () => {
    const queue = h.unique();
    const calls: Record<string, number> = { binary: 0, json: 0 };
    const atLimitOutput = randomBytes(LIMIT);
    const worker = h.worker({ queue });
    worker.register('big-binary-output', async () => {
      calls.binary!++;
      return randomBytes(LIMIT + 1);
    });
    worker.register('big-json-output', async () => {
      calls.json!++;
      return jsonOfSize(LIMIT + 1);
    });
    worker.register('output-at-limit', async () => atLimitOutput);
    await worker.start();
    const client = h.client();
    const retry = { maxAttempts: 3, initialIntervalMs: 50 };

    for (const type of ['big-binary-output', 'big-json-output']) {
      const run = await client.start(type, null, { queue, retry });
      // The run fails with a clear error rather than hanging or retrying forever.
      const err = await failure(client.result(run.id, { timeout: '30s' }));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect(err.errorType).toBe('PAYLOAD_TOO_LARGE');
      expect(err.message).toContain(String(LIMIT));
      expect(err.message).toMatch(/output/);
      const [row] = await h.query(
        `SELECT r.status, r.attempt, r.error_non_retryable, p.output FROM workflow_runs r
         JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1`,
        [run.id],
      );
      expect(row).toMatchObject({ status: 'FAILED', attempt: 1, error_non_retryable: true, output: null });
    }
    expect(calls).toEqual({ binary: 1, json: 1 });

    const ok = await client.start('output-at-limit', null, { queue });
    const output = await client.result<Buffer>(ok.id, { timeout: '30s' });
    expect(output.length).toBe(LIMIT);
    expect(sha(output)).toBe(sha(atLimitOutput));

    // By hand: an oversized CompleteWorkflow is refused and leaves the run RUNNING under its lease.
    const byHand = await claimByHand(h, client);
    const { transport, run, workerId, lease } = byHand;
    try {
      const err = await failure(
        transport.call('worker', 'CompleteWorkflow', {
          lease,
          output: { data: randomBytes(LIMIT + 1), encoding: 'binary' },
        }),
      );
      expect(err).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'output' });
      const http = await h
        .http()
        .post(`/v1/namespaces/default/workflows/${run.id}/complete`)
        .send({ workerId, leaseEpoch: lease.leaseEpoch, leaseToken: lease.leaseToken, output: jsonOfSize(LIMIT + 1) });
      expect(http.status).toBe(413);
      expect(http.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'output' });
      expect((await client.get(run.id)).status).toBe('RUNNING');
      await transport.call('worker', 'CompleteWorkflow', {
        lease,
        output: { data: Buffer.from('"small"'), encoding: 'json' },
      });
      await expect(client.result(run.id)).resolves.toBe('small');
    } finally {
      await byHand.close();
    }
  });

  test('an output nested past the depth limit fails its step or run once, never retried', async () => {
    const queue = h.unique();
    const deep = () =>
      JSON.parse('['.repeat(INPUT_LIMITS.maxJsonDepth + 10) + ']'.repeat(INPUT_LIMITS.maxJsonDepth + 10));
    const calls = { run: 0, step: 0 };
    const worker = h.worker({ queue });
    worker.register('deep-output', async () => {
      calls.run++;
      return deep();
    });
    worker.register('deep-step', async (ctx) => {
      try {
        await ctx.step('deep', () => {
          calls.step++;
          return deep();
        });
      } catch (err) {
        return { stepFailed: err instanceof StepFailedError };
      }
      return { stepFailed: false };
    });
    await worker.start();
    const client = h.client();
    const retry = { maxAttempts: 3, initialIntervalMs: 50 };

    const run = await client.start('deep-output', null, { queue, retry });
    const err = await failure(client.result(run.id, { timeout: '30s' }));
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(err.errorType).toBe('INVALID_ARGUMENT');
    const [row] = await h.query(`SELECT status, attempt, error_non_retryable FROM workflow_runs WHERE id = $1`, [
      run.id,
    ]);
    expect(row).toMatchObject({ status: 'FAILED', attempt: 1, error_non_retryable: true });

    const stepRun = await client.start('deep-step', null, { queue, retry });
    await expect(client.result(stepRun.id, { timeout: '30s' })).resolves.toEqual({ stepFailed: true });
    const [step] = await h.query(`SELECT status, final, attempt, error_type FROM step_runs WHERE run_id = $1`, [
      stepRun.id,
    ]);
    expect(step).toMatchObject({ status: 'FAILED', final: true, attempt: 1, error_type: 'INVALID_ARGUMENT' });
    expect(calls).toEqual({ run: 1, step: 1 });
  });
});
