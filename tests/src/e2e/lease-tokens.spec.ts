import { randomUUID } from 'node:crypto';
import { BatonError, Transport } from '@baton/sdk';
import { TestHarness, jsonPayload, rawCall, waitFor } from '../index';
import type { RawReply } from '../index';
import type { TestConfig } from '../harness/test-harness';
import { ProtocolWorker } from '../harness/protocol-worker';
import type { PolledTask } from '../harness/protocol-worker';

/**
 * Unforgeable leases (invariant 13): every claim hands its worker a random
 * lease token, new for each claim, and every worker mutation must carry it.
 * Namespace, run id, worker id and lease epoch are all shown in run views,
 * so they alone must never be enough; no view, list or error shows the token.
 */
describe('lease tokens', () => {
  // Nothing but the test writes a worker's row or rings a queue (a poll found waiting stays waiting until
  // a start hands it a run eagerly); a claim nobody acknowledges comes back after 2 s.
  const config: TestConfig = {
    heartbeatIntervalSecs: 60,
    workerStaleThresholdSecs: 120,
    leaseDurationSecs: 120,
    claimAckTimeoutSecs: 2,
    matchingFallbackSecs: 60,
    pollTimeoutSecs: 5,
  };
  let h: TestHarness;
  let transport: Transport;

  beforeAll(async () => {
    h = await TestHarness.start(config);
    transport = new Transport(h.grpcAddress);
  });

  afterAll(async () => {
    transport?.close();
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  const json = jsonPayload;
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => null,
      (err: unknown) => err,
    );
  const call = (method: string, body: object) => rawCall(transport, 'worker', method, body);

  /** Every worker mutation of DESIGN §6 under `lease`, as its gRPC method and request. */
  const mutations = (lease: object): Array<[string, object]> => [
    ['BeginStep', { lease, stepId: 'charge', seq: 0 }],
    ['CompleteStep', { lease, stepId: 'charge', seq: 0, output: json('forged') }],
    ['FailStep', { lease, stepId: 'charge', seq: 0, error: { message: 'forged' } }],
    ['Sleep', { lease, stepId: 'nap', seq: 0, durationMs: 60_000 }],
    ['CompleteWorkflow', { lease, output: json('forged') }],
    ['FailWorkflow', { lease, error: { message: 'forged', nonRetryable: true } }],
  ];
  /** The same mutations as the HTTP worker routes: path under the namespace, and body beside the lease. */
  const httpMutations = (runId: string): Array<[string, object]> => [
    [`/workflows/${runId}/steps/charge/begin`, { seq: 0 }],
    [`/workflows/${runId}/steps/charge/complete`, { seq: 0, output: 'forged' }],
    [`/workflows/${runId}/steps/charge/fail`, { seq: 0, error: { message: 'forged' } }],
    [`/workflows/${runId}/sleep`, { stepId: 'nap', seq: 0, durationMs: 60_000 }],
    [`/workflows/${runId}/complete`, { output: 'forged' }],
    [`/workflows/${runId}/fail`, { error: { message: 'forged', nonRetryable: true } }],
  ];
  const batchKey = (method: string) => method[0]!.toLowerCase() + method.slice(1);

  /** What a guarded mutation may not change: the run row (but its heartbeat-extended lease) and its records. */
  async function snapshot(runId: string) {
    const [run] = await h.query(
      `SELECT r.status, r.locked_by, r.lease_epoch, r.lease_token::text AS lease_token, r.attempt, r.claims,
              r.error_message, r.updated_at, p.output
       FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1`,
      [runId],
    );
    const steps = await h.query(`SELECT step_id, status FROM step_runs WHERE run_id = $1 ORDER BY seq`, [runId]);
    return { run: run!, steps };
  }

  /** Polls over gRPC until `n` tasks arrived, acknowledging each at once (its short first lease becomes a full one). */
  async function claimOverGrpc(worker: ProtocolWorker, n: number) {
    const tasks: Array<{ runId: string; leaseEpoch: number; leaseToken: string }> = [];
    await waitFor(
      async () => {
        const res = await worker.grpcPoll({ maxTasks: n - tasks.length });
        const got = [res.task, ...(res.moreTasks ?? [])].filter((t) => t?.runId);
        for (const t of got) tasks.push({ runId: t!.runId!, leaseEpoch: t!.leaseEpoch!, leaseToken: t!.leaseToken! });
        if (got.length > 0) await worker.heartbeat([...worker.held]);
        return tasks.length >= n;
      },
      `${n} tasks on ${worker.queue}`,
      { intervalMs: 0 },
    );
    return tasks;
  }

  async function claimOverHttp(worker: ProtocolWorker, { acknowledge = true } = {}): Promise<PolledTask> {
    const task = await worker.pollUntilTask();
    if (acknowledge) {
      const beat = await worker.heartbeat([task.runId]);
      expect([beat.status, beat.json.cancelledRunIds]).toEqual([200, []]);
    }
    return task;
  }

  async function tokenInDatabase(runId: string): Promise<string | null> {
    const [row] = await h.query(`SELECT lease_token::text AS token FROM workflow_runs WHERE id = $1`, [runId]);
    return row!.token;
  }

  async function httpPost(path: string, body: object) {
    return h.http().post(`/v1/namespaces/default${path}`).send(body);
  }

  test('lease_token_required_for_worker_mutations', async () => {
    const queue = h.unique('token');
    const client = h.client();
    const run = await client.start('job', null, { queue });
    const other = await client.start('job', null, { queue });
    const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
    const tasks = await claimOverGrpc(worker, 2);
    const task = tasks.find((t) => t.runId === run.id)!;
    const otherTask = tasks.find((t) => t.runId === other.id)!;
    expect(task.leaseToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(otherTask.leaseToken).not.toBe(task.leaseToken);
    expect(await tokenInDatabase(run.id)).toBe(task.leaseToken);
    const before = await snapshot(run.id);
    expect(before.run).toMatchObject({ status: 'RUNNING', locked_by: worker.id, output: null });

    // Everything a run view shows (namespace, run id, worker id, lease epoch), with no token or a wrong one.
    const shown = { namespace: 'default', runId: run.id, workerId: worker.id, leaseEpoch: task.leaseEpoch };
    const invalid = { code: 'INVALID_ARGUMENT', field: 'lease.leaseToken' };
    const notTheLease = { code: 'FAILED_PRECONDITION', reason: 'LEASE_LOST' };
    const forged: Array<[string, object, object]> = [
      ['no token', shown, invalid],
      ['empty token', { ...shown, leaseToken: '' }, invalid],
      ['malformed token', { ...shown, leaseToken: 'not-a-uuid' }, invalid],
      ['token cut short', { ...shown, leaseToken: task.leaseToken.slice(0, -1) }, invalid],
      ['random token', { ...shown, leaseToken: randomUUID() }, notTheLease],
      ["another run's token", { ...shown, leaseToken: otherTask.leaseToken }, notTheLease],
    ];
    const wrong: string[] = [];
    for (const [what, lease, expected] of forged) {
      // Each on its own, then all six in one Batch: each answered as its lone call.
      for (const [method, body] of mutations(lease)) {
        const err = await refusal(call(method, body));
        const seen = err instanceof BatonError ? { code: err.code, field: err.field, reason: err.reason } : err;
        if (!(err instanceof BatonError) || !matches(seen, expected)) {
          wrong.push(`${what} ${method}: ${JSON.stringify(seen)}`);
        }
      }
      const batch = mutations(lease).map(([method, body]) => ({ [batchKey(method)]: body }));
      const { outcomes } = (await call('Batch', { calls: batch })) as { outcomes: RawReply[] };
      outcomes.forEach((outcome, i) => {
        if (!outcome.error || !matches(outcome.error, expected)) {
          wrong.push(`${what} Batch ${mutations(lease)[i]![0]}: ${JSON.stringify(outcome)}`);
        }
      });
    }
    // Over HTTP: the token missing or malformed is a 400 naming it; a wrong one a 409.
    const lease = { workerId: worker.id, leaseEpoch: task.leaseEpoch };
    for (const [leaseToken, status] of [
      [undefined, 400],
      ['not-a-uuid', 400],
      [randomUUID(), 409],
      [otherTask.leaseToken, 409],
    ] as const) {
      const res = await httpPost(`/workflows/${run.id}/complete`, { ...lease, leaseToken, output: 'forged' });
      if (res.status !== status) wrong.push(`HTTP complete with ${leaseToken}: ${res.status} ${res.text}`);
      if (status === 400 && res.body.error?.field !== 'lease.leaseToken') wrong.push(`HTTP field: ${res.text}`);
    }
    for (const [path, body] of httpMutations(run.id)) {
      const res = await httpPost(path, { ...lease, leaseToken: randomUUID(), ...body });
      if (res.status !== 409 || res.body.error?.reason !== 'LEASE_LOST') wrong.push(`HTTP ${path}: ${res.text}`);
    }
    expect(wrong).toEqual([]);

    // Nothing moved: still RUNNING under the same lease, no output, no step recorded.
    expect(await snapshot(run.id)).toEqual(before);

    // With the token it received, the worker drives the run to the end (a step, then the workflow in a Batch).
    const own = { ...shown, leaseToken: task.leaseToken };
    await expect(call('BeginStep', { lease: own, stepId: 'charge', seq: 0 })).resolves.toMatchObject({
      shouldExecute: true,
    });
    await call('CompleteStep', { lease: own, stepId: 'charge', seq: 0, output: json('charged') });
    const done = (await call('Batch', { calls: [{ completeWorkflow: { lease: own, output: json('real') } }] })) as {
      outcomes: RawReply[];
    };
    expect(done.outcomes).toEqual([expect.objectContaining({ completeWorkflow: {} })]);
    await expect(client.result(run.id)).resolves.toBe('real');
    expect((await client.steps(run.id)).map((s) => [s.stepId, s.output])).toEqual([['charge', 'charged']]);
    // And over HTTP, the other run with its own token.
    expect(await worker.complete(otherTask, 'other')).toBe(200);
    await expect(client.result(other.id)).resolves.toBe('other');
    // A run that left RUNNING holds no token.
    expect([await tokenInDatabase(run.id), await tokenInDatabase(other.id)]).toEqual([null, null]);
  });

  test('lease_token_never_shown_in_views', async () => {
    const queue = h.unique('views');
    const client = h.client();
    const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });

    // A claimed run with a recorded step, over gRPC.
    const run = await client.start('job', { order: 1 }, { queue });
    const [task] = await claimOverGrpc(worker, 1);
    const lease = { namespace: 'default', runId: run.id, workerId: worker.id, leaseEpoch: task!.leaseEpoch };
    await call('CompleteStep', {
      lease: { ...lease, leaseToken: task!.leaseToken },
      stepId: 'a',
      seq: 0,
      output: json(1),
    });

    // Runs handed to a poll already waiting, inside their start (eager dispatch): the start's answer is a run view
    // made from the row just inserted with its token.
    const eager: Array<{ runId: string; token: string; answer: unknown }> = [];
    for (const over of ['http', 'grpc'] as const) {
      const poll = worker.poll();
      await waitFor(() => {
        const reservation = h.localDispatch.reserve('default', queue, 'job');
        reservation?.release();
        return reservation !== undefined;
      }, `a poll waiting on ${queue}`);
      const answer =
        over === 'http'
          ? (await h.http().post('/v1/namespaces/default/workflows').send({ workflowType: 'job', queue }).expect(201))
              .body
          : await rawCall(transport, 'workflow', 'Start', { namespace: 'default', workflowType: 'job', queue });
      const polled = await poll;
      expect(polled.task).not.toBeNull();
      const token = polled.task!.leaseToken;
      await worker.heartbeat([...worker.held]);
      expect((answer as { run: { id: string; status: string } }).run).toMatchObject({
        id: polled.task!.runId,
        status: 'RUNNING',
      });
      eager.push({ runId: polled.task!.runId, token, answer });
    }
    const tokens = [task!.leaseToken, ...eager.map((e) => e.token)];
    for (const [runId, token] of [[run.id, task!.leaseToken], ...eager.map((e) => [e.runId, e.token])]) {
      expect(await tokenInDatabase(runId!)).toBe(token); // the runs are held under these tokens right now
    }

    const views: Array<[string, unknown]> = eager.map((e, i) => [`eager start ${i}`, e.answer]);
    const http = async (path: string) => (await h.http().get(`/v1/namespaces/default${path}`).expect(200)).body;
    const grpc = (service: 'workflow' | 'admin', method: string, body: object) =>
      rawCall(transport, service, method, { namespace: 'default', ...body });
    for (const runId of [run.id, ...eager.map((e) => e.runId)]) {
      views.push(
        [`HTTP get ${runId}`, await http(`/workflows/${runId}`)],
        [`HTTP steps ${runId}`, await http(`/workflows/${runId}/steps`)],
        [`HTTP result ${runId}`, await http(`/workflows/${runId}/result?waitMs=0`)],
        [`gRPC Get ${runId}`, await grpc('workflow', 'Get', { runId })],
        [`gRPC ListSteps ${runId}`, await grpc('workflow', 'ListSteps', { runId })],
        [`gRPC WaitResult ${runId}`, await grpc('workflow', 'WaitResult', { runId, waitMs: 0 })],
        [`SDK get ${runId}`, await client.get(runId)],
        [`SDK steps ${runId}`, await client.steps(runId)],
      );
    }
    views.push(
      ['HTTP list', await http(`/workflows?pageSize=100`)],
      ['HTTP list RUNNING', await http(`/workflows?status=RUNNING&queue=${queue}`)],
      ['HTTP workers', await http(`/workers?queue=${queue}`)],
      ['HTTP worker', await http(`/workers/${worker.id}`)],
      ['HTTP queue stats', await http(`/queues/${queue}/stats`)],
      ['gRPC List', await grpc('workflow', 'List', { pageSize: 100 })],
      ['gRPC List RUNNING', await grpc('workflow', 'List', { status: 'RUNNING', queue })],
      ['gRPC ListWorkers', await grpc('admin', 'ListWorkers', { queue })],
      ['gRPC GetWorker', await grpc('admin', 'GetWorker', { workerId: worker.id })],
      ['SDK list', await client.list({ pageSize: 100 })],
      ['SDK workers', await client.workers()],
    );
    // Refusals say why without the token: another worker holding the real one, over gRPC and HTTP.
    const intruder = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
    const stolen = { ...lease, workerId: intruder.id, leaseToken: task!.leaseToken };
    for (const [method, body] of mutations(stolen))
      views.push([`refused ${method}`, await refusal(call(method, body))]);
    const refusedHttp = await httpPost(`/workflows/${run.id}/complete`, {
      workerId: intruder.id,
      leaseEpoch: task!.leaseEpoch,
      leaseToken: task!.leaseToken,
    });
    expect(refusedHttp.status).toBe(409);
    views.push(['refused HTTP complete', refusedHttp.body]);

    const leaks: string[] = [];
    for (const [what, view] of views) {
      const text = textOf(view);
      // A run's views name its lease (the owner and epoch): the check below would prove nothing if they did not.
      if (what.startsWith('HTTP get') && !text.includes(worker.id)) leaks.push(`${what} does not show its owner`);
      for (const token of tokens) {
        if (text.includes(token) || text.includes(token.replace(/-/g, ''))) leaks.push(`${what} shows ${token}`);
      }
      if (/lease_?token/i.test(text)) leaks.push(`${what} has a lease token field: ${text}`);
    }
    expect(leaks).toEqual([]);
  });

  test('each_claim_gets_a_new_lease_token', async () => {
    const queue = h.unique('reclaim');
    const client = h.client();
    const run = await client.start('job', null, { queue });
    const a = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
    const b = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
    const row = async () => (await snapshot(run.id)).run;

    // First claim: A's; A leaves and hands it back.
    const first = await claimOverHttp(a);
    expect(await tokenInDatabase(run.id)).toBe(first.leaseToken);
    expect(await a.deregister()).toBe(200);
    expect(await row()).toMatchObject({ status: 'PENDING', locked_by: null, lease_token: null });

    // Second claim: B's, never acknowledged (its reply "lost"): the watchdog takes it back at the short lease's end.
    const second = await claimOverHttp(b, { acknowledge: false });
    expect(second.runId).toBe(run.id);
    expect(second.leaseEpoch).toBe(first.leaseEpoch + 1);
    await waitFor(
      async () => {
        const now = await row();
        return now.status === 'PENDING' && now.claims === 2 ? now : null;
      },
      'the unacknowledged claim to come back',
      { timeoutMs: h.config.claimAckTimeoutMs + 10_000 },
    );
    expect(await row()).toMatchObject({ locked_by: null, lease_token: null });

    // Third claim: B's again, acknowledged.
    const third = await claimOverHttp(b);
    expect(third.runId).toBe(run.id);
    expect(third.leaseEpoch).toBe(second.leaseEpoch + 1);
    const tokens = [first.leaseToken, second.leaseToken, third.leaseToken];
    expect(new Set(tokens).size).toBe(3);
    expect(await tokenInDatabase(run.id)).toBe(third.leaseToken);

    // The old tokens are void, even for the worker that holds the run now and with its current epoch.
    const held = await snapshot(run.id);
    for (const old of [first, second]) {
      const stale = { runId: run.id, leaseEpoch: third.leaseEpoch, leaseToken: old.leaseToken };
      expect(await b.complete(stale, 'stale')).toBe(409);
      const err = await refusal(
        call('CompleteWorkflow', {
          lease: { namespace: 'default', workerId: b.id, ...stale },
          output: json('stale'),
        }),
      );
      expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'LEASE_LOST' });
    }
    expect(await a.complete(first, 'stale')).toBe(409);
    expect(await snapshot(run.id)).toEqual(held);

    // The current one completes it; then it holds no token.
    expect(await b.complete(third, 'done')).toBe(200);
    await expect(client.result(run.id)).resolves.toBe('done');
    expect(await tokenInDatabase(run.id)).toBeNull();
  });
});

/** Whether an error carries every field of `expected`. */
function matches(seen: unknown, expected: object): boolean {
  const record = seen as Record<string, unknown>;
  return Object.entries(expected).every(([key, value]) => record?.[key] === value);
}

/** A view as JSON text (64-bit integers as digits). */
function textOf(view: unknown): string {
  if (view instanceof Error) return JSON.stringify({ ...view, message: view.message });
  return JSON.stringify(view, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
}
