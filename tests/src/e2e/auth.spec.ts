import { createHash } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ALL_NAMESPACES, Role } from '@baton/contracts';
import { BatonError } from '@baton/sdk';
import {
  KEYS_REQUIRED,
  TEST_ADMIN_KEY,
  TestHarness,
  bearer,
  createKey,
  deferred,
  grpcMethods,
  grpcStatus,
  jsonPayload,
  revokeKey,
  waitFor,
} from '../index';
import type { CallStatus, CreatedKey } from '../index';

/*
 * Invariant 13: nobody acts where they do not belong. Every gRPC method and
 * every HTTP route is tried without a key, with a revoked key, with a key of
 * another namespace and with a key of the wrong role. The lists of methods and
 * routes are read from what the server serves (the proto files, /docs-json),
 * and each must have an expected role here: a new one without a rule fails.
 */

type Expect = Role | 'any key' | 'public';

/** The role each gRPC method needs. */
const GRPC_ROLES: Record<string, Expect> = {
  'WorkflowService/Start': Role.CLIENT,
  'WorkflowService/StartMany': Role.CLIENT,
  'WorkflowService/Get': Role.CLIENT,
  'WorkflowService/List': Role.CLIENT,
  'WorkflowService/Cancel': Role.CLIENT,
  'WorkflowService/Delete': Role.CLIENT,
  'WorkflowService/ListSteps': Role.CLIENT,
  'WorkflowService/WaitResult': Role.CLIENT,
  'WorkflowService/Terminate': Role.ADMIN,
  'WorkflowService/Retry': Role.ADMIN,
  'WorkflowService/Reset': Role.ADMIN,
  'WorkflowService/ListHistory': Role.CLIENT,
  'WorkflowService/Signal': Role.CLIENT,
  'ScheduleService/Create': Role.CLIENT,
  'ScheduleService/Get': Role.CLIENT,
  'ScheduleService/List': Role.CLIENT,
  'ScheduleService/Update': Role.CLIENT,
  'ScheduleService/Pause': Role.CLIENT,
  'ScheduleService/Resume': Role.CLIENT,
  'ScheduleService/Delete': Role.CLIENT,
  'ScheduleService/Trigger': Role.CLIENT,
  'WorkerService/Register': Role.WORKER,
  'WorkerService/Heartbeat': Role.WORKER,
  'WorkerService/Deregister': Role.WORKER,
  'WorkerService/PollTask': Role.WORKER,
  'WorkerService/BeginStep': Role.WORKER,
  'WorkerService/CompleteStep': Role.WORKER,
  'WorkerService/FailStep': Role.WORKER,
  'WorkerService/Sleep': Role.WORKER,
  'WorkerService/WaitForSignal': Role.WORKER,
  'WorkerService/StartChild': Role.WORKER,
  'WorkerService/CompleteWorkflow': Role.WORKER,
  'WorkerService/FailWorkflow': Role.WORKER,
  'WorkerService/Batch': Role.WORKER,
  'WorkerService/WatchCancellations': Role.WORKER,
  'AdminService/ListWorkers': Role.ADMIN,
  'AdminService/GetWorker': Role.ADMIN,
  'AdminService/DrainWorker': Role.ADMIN,
  'AdminService/QueueStats': Role.ADMIN,
  'AdminService/ListQueues': Role.ADMIN,
  'AdminService/Health': 'public',
  'AdminService/ServerInfo': 'any key',
  'AdminService/CreateApiKey': Role.ADMIN,
  'AdminService/ListApiKeys': Role.ADMIN,
  'AdminService/RevokeApiKey': Role.ADMIN,
  'AdminService/SetRateLimit': Role.ADMIN,
  'AdminService/ListRateLimits': Role.ADMIN,
  'AdminService/DeleteRateLimit': Role.ADMIN,
};

/** gRPC methods that name no namespace (they act on the caller's own scope). */
const GRPC_WITHOUT_NAMESPACE = new Set([
  'AdminService/Health',
  'AdminService/ServerInfo',
  'AdminService/CreateApiKey',
  'AdminService/ListApiKeys',
  'AdminService/RevokeApiKey',
]);

const N = '/v1/namespaces/{namespace}';

/** The role each HTTP route needs, as `METHOD /path` with OpenAPI's `{param}`s. */
const HTTP_ROLES: Record<string, Expect> = {
  [`POST ${N}/workflows`]: Role.CLIENT,
  [`GET ${N}/workflows`]: Role.CLIENT,
  [`GET ${N}/workflows/{runId}`]: Role.CLIENT,
  [`POST ${N}/workflows/{runId}/cancel`]: Role.CLIENT,
  [`DELETE ${N}/workflows/{runId}`]: Role.CLIENT,
  [`GET ${N}/workflows/{runId}/steps`]: Role.CLIENT,
  [`GET ${N}/workflows/{runId}/result`]: Role.CLIENT,
  [`POST ${N}/workflows/{runId}/terminate`]: Role.ADMIN,
  [`POST ${N}/workflows/{runId}/retry`]: Role.ADMIN,
  [`POST ${N}/workflows/{runId}/reset`]: Role.ADMIN,
  [`GET ${N}/workflows/{runId}/history`]: Role.CLIENT,
  [`POST ${N}/workflows/{runId}/signals`]: Role.CLIENT,
  [`POST ${N}/signals`]: Role.CLIENT,
  [`POST ${N}/schedules`]: Role.CLIENT,
  [`GET ${N}/schedules`]: Role.CLIENT,
  [`GET ${N}/schedules/{scheduleId}`]: Role.CLIENT,
  [`PATCH ${N}/schedules/{scheduleId}`]: Role.CLIENT,
  [`POST ${N}/schedules/{scheduleId}/pause`]: Role.CLIENT,
  [`POST ${N}/schedules/{scheduleId}/resume`]: Role.CLIENT,
  [`DELETE ${N}/schedules/{scheduleId}`]: Role.CLIENT,
  [`POST ${N}/schedules/{scheduleId}/trigger`]: Role.CLIENT,
  [`POST ${N}/workers`]: Role.WORKER,
  [`POST ${N}/workers/{workerId}/heartbeat`]: Role.WORKER,
  [`DELETE ${N}/workers/{workerId}`]: Role.WORKER,
  [`POST ${N}/workers/{workerId}/poll`]: Role.WORKER,
  [`POST ${N}/workers/{workerId}/cancellations`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/steps/{stepId}/begin`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/steps/{stepId}/complete`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/steps/{stepId}/fail`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/sleep`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/wait-for-signal`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/children/{stepId}`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/complete`]: Role.WORKER,
  [`POST ${N}/workflows/{runId}/fail`]: Role.WORKER,
  [`GET ${N}/workers`]: Role.ADMIN,
  [`GET ${N}/workers/{workerId}`]: Role.ADMIN,
  [`POST ${N}/workers/{workerId}/drain`]: Role.ADMIN,
  [`GET ${N}/queues/{queue}/stats`]: Role.ADMIN,
  [`GET ${N}/queues`]: Role.ADMIN,
  [`PUT ${N}/rate-limits`]: Role.ADMIN,
  [`GET ${N}/rate-limits`]: Role.ADMIN,
  [`DELETE ${N}/rate-limits`]: Role.ADMIN,
  ['GET /v1/info']: 'any key',
  ['POST /v1/admin/keys']: Role.ADMIN,
  ['GET /v1/admin/keys']: Role.ADMIN,
  ['POST /v1/admin/keys/{keyId}/revoke']: Role.ADMIN,
};

/** A gRPC request that names namespace `ns` wherever any method reads one (unknown fields are dropped by encoding). */
const requestIn = (ns: string) => ({
  namespace: ns,
  lease: { namespace: ns },
  starts: [{ namespace: ns }],
  calls: [{ completeWorkflow: { lease: { namespace: ns } } }],
});

/** A concrete path for a route: namespace `ns`, ids that exist nowhere. */
const pathIn = (route: string, ns: string) =>
  route
    .replace('{namespace}', encodeURIComponent(ns))
    .replace(/\{(runId|workerId|keyId)\}/g, '0190a000-0000-7000-8000-000000000000')
    .replace(/\{\w+\}/g, 'x');

const DENIED = new Set([GrpcStatus.UNAUTHENTICATED, GrpcStatus.PERMISSION_DENIED]);

describe('authentication and authorization at the edge', () => {
  let h: TestHarness;
  const NS = 'tenant-a';
  const OTHER = 'tenant-b';
  const keys = {} as Record<'client' | 'worker' | 'admin' | 'revoked', CreatedKey>;
  let routes: Array<{ route: string; method: string }>;
  const methods = grpcMethods();

  beforeAll(async () => {
    h = await TestHarness.start({ overrides: KEYS_REQUIRED });
    keys.client = await createKey(h, 'client-a', [NS], [Role.CLIENT]);
    keys.worker = await createKey(h, 'worker-a', [NS], [Role.WORKER]);
    keys.admin = await createKey(h, 'admin-a', [NS], [Role.ADMIN]);
    keys.revoked = await createKey(h, 'revoked', [ALL_NAMESPACES], [Role.ADMIN]);
    await revokeKey(h, keys.revoked.id);
    const docs = (await h.http().get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    routes = Object.entries(docs.paths)
      .filter(([p]) => p.startsWith('/v1'))
      .flatMap(([route, ops]) => Object.keys(ops).map((m) => ({ route, method: m.toUpperCase() })));
  });
  afterAll(() => h?.stop());

  /** The least powerful of our keys that holds `role`, or one that does not. */
  const keyWith = (role: Expect) =>
    role === Role.WORKER ? keys.worker : role === Role.ADMIN ? keys.admin : keys.client;
  const keysWithout = (role: Expect) =>
    role === Role.CLIENT ? [keys.worker] : role === Role.WORKER ? [keys.client] : [keys.client, keys.worker];

  const http = (method: string, path: string, authorization?: string) => {
    const req = h.http()[method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete'](path).timeout(10_000);
    if (authorization !== undefined) req.set('Authorization', authorization);
    return method === 'GET' ? req : req.send({});
  };

  const grpc = (method: string, request: object, authorization?: string): Promise<CallStatus> =>
    grpcStatus(h.grpcAddress, methods.get(method)!, request, authorization);

  test('every RPC and route has an expected role', () => {
    expect(Object.keys(GRPC_ROLES).sort()).toEqual([...methods.keys()].sort());
    expect(Object.keys(HTTP_ROLES).sort()).toEqual(routes.map((r) => `${r.method} ${r.route}`).sort());
  });

  test('every RPC and route refuses a call without a key', async () => {
    for (const [method, role] of Object.entries(GRPC_ROLES)) {
      const status = await grpc(method, requestIn(NS));
      if (role === 'public') expect([method, status.code]).toEqual([method, GrpcStatus.OK]);
      else expect([method, status.code]).toEqual([method, GrpcStatus.UNAUTHENTICATED]);
    }
    for (const { method, route } of routes) {
      const res = await http(method, pathIn(route, NS));
      expect([method, route, res.status, res.body?.error?.code]).toEqual([method, route, 401, 'UNAUTHENTICATED']);
    }
  });

  test('a malformed authorization header is no key at all', async () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${keys.client.secret} extra`, keys.client.secret]) {
      expect((await grpc('WorkflowService/List', requestIn(NS), header)).code).toBe(GrpcStatus.UNAUTHENTICATED);
      expect((await http('GET', `/v1/namespaces/${NS}/workflows`, header)).status).toBe(401);
    }
  });

  test('every RPC and route refuses a revoked key', async () => {
    const revoked = bearer(keys.revoked.secret);
    for (const [method, role] of Object.entries(GRPC_ROLES)) {
      if (role === 'public') continue;
      expect([method, (await grpc(method, requestIn(NS), revoked)).code]).toEqual([method, GrpcStatus.UNAUTHENTICATED]);
    }
    for (const { method, route } of routes) {
      expect([method, route, (await http(method, pathIn(route, NS), revoked)).status]).toEqual([method, route, 401]);
    }
  });

  test('every RPC and route refuses a key of another namespace', async () => {
    for (const [method, role] of Object.entries(GRPC_ROLES)) {
      if (role === 'public' || GRPC_WITHOUT_NAMESPACE.has(method)) continue;
      const status = await grpc(method, requestIn(OTHER), bearer(keyWith(role).secret));
      expect([method, status.code]).toEqual([method, GrpcStatus.PERMISSION_DENIED]);
    }
    for (const { method, route } of routes) {
      if (!route.includes('{namespace}')) continue;
      const role = HTTP_ROLES[`${method} ${route}`]!;
      const res = await http(method, pathIn(route, OTHER), bearer(keyWith(role).secret));
      expect([method, route, res.status, res.body?.error?.code]).toEqual([method, route, 403, 'PERMISSION_DENIED']);
    }
  });

  test('every RPC and route refuses a key of the wrong role', async () => {
    for (const [method, role] of Object.entries(GRPC_ROLES)) {
      if (role === 'public' || role === 'any key') continue;
      for (const key of keysWithout(role)) {
        const status = await grpc(method, requestIn(NS), bearer(key.secret));
        expect([method, key.id, status.code]).toEqual([method, key.id, GrpcStatus.PERMISSION_DENIED]);
      }
    }
    for (const { method, route } of routes) {
      const role = HTTP_ROLES[`${method} ${route}`]!;
      if (role === 'any key') continue;
      for (const key of keysWithout(role)) {
        const res = await http(method, pathIn(route, NS), bearer(key.secret));
        expect([method, route, key.id, res.status]).toEqual([method, route, key.id, 403]);
      }
    }
  });

  test('every RPC and route admits a key with the role in the namespace', async () => {
    for (const [method, role] of Object.entries(GRPC_ROLES)) {
      if (role === 'public') continue;
      const status = await grpc(method, requestIn(NS), bearer(keyWith(role).secret));
      // Whatever the (empty) request earns next, it is no longer about who is calling.
      expect([method, DENIED.has(status.code), status.details]).toEqual([method, false, status.details]);
    }
    for (const { method, route } of routes) {
      const role = HTTP_ROLES[`${method} ${route}`]!;
      const res = await http(method, pathIn(route, NS), bearer(keyWith(role).secret));
      expect([method, route, [401, 403, 429].includes(res.status)]).toEqual([method, route, false]);
    }
  });

  test('probes and the API documentation need no key', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/docs-json']) {
      expect([path, (await h.http().get(path)).status]).toEqual([path, 200]);
    }
  });

  test('keys are stored only as hashes and listed without secrets', async () => {
    const key = await createKey(h, 'hashed', [NS], [Role.CLIENT]);
    const [row] = await h.query(`SELECT * FROM api_keys WHERE id = $1`, [key.id]);
    expect(JSON.stringify(row)).not.toContain(key.secret);
    expect((row!.secret_hash as Buffer).equals(createHash('sha256').update(key.secret).digest())).toBe(true);
    const listed = await h.http().get('/v1/admin/keys').set('Authorization', bearer(TEST_ADMIN_KEY)).expect(200);
    expect(JSON.stringify(listed.body)).not.toContain(key.secret);
    expect(listed.body.keys.map((k: { id: string }) => k.id)).toContain(key.id);
  });

  test('a key cannot mint a key beyond its own namespaces, nor see keys outside them', async () => {
    const adminA = bearer(keys.admin.secret);
    for (const namespaces of [[OTHER], [NS, OTHER], [ALL_NAMESPACES]]) {
      const res = await h
        .http()
        .post('/v1/admin/keys')
        .set('Authorization', adminA)
        .send({ name: 'escalate', namespaces, roles: [Role.ADMIN] });
      expect([namespaces, res.status, res.body.error?.field]).toEqual([namespaces, 403, 'namespaces']);
    }
    const minted = await createKey(h, 'minted-by-a', [NS], [Role.WORKER], keys.admin.secret);
    const listed = await h.http().get('/v1/admin/keys').set('Authorization', adminA).expect(200);
    const ids = listed.body.keys.map((k: { id: string }) => k.id);
    expect(ids).toContain(minted.id);
    // The bootstrap-made "revoked" key spans every namespace: outside A's scope, invisible and untouchable.
    const wide = await createKey(h, 'wide', [ALL_NAMESPACES], [Role.CLIENT]);
    expect(ids).not.toContain(wide.id);
    await h.http().post(`/v1/admin/keys/${wide.id}/revoke`).set('Authorization', adminA).expect(404);
  });

  test('a revocation takes effect at once, even for a key in use', async () => {
    const key = await createKey(h, 'in-use', [NS], [Role.CLIENT]);
    const client = h.client(NS, { apiKey: key.secret });
    await client.list();
    await revokeKey(h, key.id);
    const err = await client.list().then(
      () => null,
      (e: unknown) => e as BatonError,
    );
    expect(err?.code).toBe('UNAUTHENTICATED');
  });

  describe('the attack on another namespace, replayed', () => {
    const V = 'victim';
    const M = 'mallory';
    const pwned = jsonPayload('pwned');

    /** A victim run held by its real worker, and everything about it an attacker could learn (as if leaked). */
    async function victimRunHeld() {
      const clientKey = await createKey(h, h.unique('victim-client'), [V], [Role.CLIENT]);
      const workerKey = await createKey(h, h.unique('victim-worker'), [V], [Role.WORKER]);
      const queue = h.unique('orders');
      const entered = deferred();
      const release = deferred();
      const worker = h.worker({ namespace: V, queue, apiKey: workerKey.secret });
      worker.register('order', async () => {
        entered.resolve();
        await release.promise;
        return 'paid';
      });
      await worker.start();
      const client = h.client(V, { apiKey: clientKey.secret });
      const run = await client.start('order', { amount: 10 }, { queue });
      await entered.promise;
      const [row] = await h.query(
        `SELECT locked_by, lease_epoch, lease_token::text AS lease_token FROM workflow_runs WHERE id = $1`,
        [run.id],
      );
      const lease = {
        namespace: V,
        runId: run.id,
        workerId: row!.locked_by as string,
        leaseEpoch: row!.lease_epoch as number,
        leaseToken: row!.lease_token as string,
      };
      return { client, worker, queue, run, lease, release };
    }

    test('attack_replayed_step_by_step_is_refused', async () => {
      const mallory = bearer((await createKey(h, 'mallory', [M], [Role.CLIENT, Role.WORKER, Role.ADMIN])).secret);
      const { client, worker, queue, run, lease, release } = await victimRunHeld();
      const refused = async (method: string, request: object) =>
        expect([method, (await grpc(method, request, mallory)).code]).toEqual([method, GrpcStatus.PERMISSION_DENIED]);
      const refusedHttp = async (method: 'get' | 'post' | 'delete', path: string, body: object = {}) => {
        const res = await h.http()[method](`/v1/namespaces/${V}${path}`).set('Authorization', mallory).send(body);
        expect([method, path, res.status]).toEqual([method, path, 403]);
      };

      // 1. Read the victim's running run (its view names the worker and the lease epoch).
      await refused('WorkflowService/Get', { namespace: V, runId: run.id });
      await refused('WorkflowService/List', { namespace: V });
      await refusedHttp('get', `/workflows/${run.id}`);
      // 2. Complete it with "pwned", even holding everything its lease is made of.
      await refused('WorkerService/CompleteWorkflow', { lease, output: pwned });
      await refused('WorkerService/Batch', { calls: [{ completeWorkflow: { lease, output: pwned } }] });
      await refusedHttp('post', `/workflows/${run.id}/complete`, {
        workerId: lease.workerId,
        leaseEpoch: lease.leaseEpoch,
        leaseToken: lease.leaseToken,
        output: 'pwned',
      });
      // 3. Register a rogue worker there, and 4. poll for its next run as its real worker.
      const rogue = { namespace: V, queue, workflowTypes: ['order'], hostname: 'rogue', pid: 1 };
      await refused('WorkerService/Register', rogue);
      await refusedHttp('post', '/workers', rogue);
      await refused('WorkerService/PollTask', {
        namespace: V,
        queue,
        workerId: lease.workerId,
        workflowTypes: ['order'],
      });
      // 5. Delete its runs.
      await refused('WorkflowService/Delete', { namespace: V, runId: run.id });
      await refusedHttp('delete', `/workflows/${run.id}`);
      // 6. Put its worker into DRAINING.
      await refused('WorkerService/Deregister', { namespace: V, workerId: lease.workerId, drain: true });
      await refused('AdminService/DrainWorker', { namespace: V, workerId: lease.workerId });
      await refusedHttp('post', `/workers/${lease.workerId}/drain`);
      // 7. Name its own namespace around the victim's ids: nothing there to find or to change.
      expect((await grpc('WorkflowService/Get', { namespace: M, runId: run.id }, mallory)).code).toBe(
        GrpcStatus.NOT_FOUND,
      );
      const smuggled = await grpc(
        'WorkerService/CompleteWorkflow',
        { lease: { ...lease, namespace: M }, output: pwned },
        mallory,
      );
      expect(smuggled.code).toBe(GrpcStatus.NOT_FOUND);
      expect((await grpc('AdminService/DrainWorker', { namespace: M, workerId: lease.workerId }, mallory)).code).toBe(
        GrpcStatus.NOT_FOUND,
      );

      // The victim's worker and run never noticed.
      const [victimWorker] = await h.query(`SELECT status FROM workers WHERE id = $1`, [lease.workerId]);
      expect(victimWorker!.status).toBe('ONLINE');
      release.resolve();
      expect(await client.result(run.id)).toBe('paid');
      await worker.stop();
    });

    test('worker_key_cannot_complete_a_run_it_does_not_hold', async () => {
      const { client, worker, run, lease, release } = await victimRunHeld();
      // A worker key of the victim's own namespace, and what any reader of the run sees: worker id and epoch.
      const insider = bearer((await createKey(h, h.unique('insider'), [V], [Role.WORKER])).secret);
      const view = await client.get(run.id);
      expect(JSON.stringify(view)).not.toContain(lease.leaseToken);
      const seen = { namespace: V, runId: run.id, workerId: lease.workerId, leaseEpoch: lease.leaseEpoch };
      for (const forged of [seen, { ...seen, leaseToken: '0190a000-0000-4000-8000-000000000000' }]) {
        const status = await grpc('WorkerService/CompleteWorkflow', { lease: forged, output: pwned }, insider);
        expect([GrpcStatus.FAILED_PRECONDITION, GrpcStatus.INVALID_ARGUMENT]).toContain(status.code);
        const res = await h
          .http()
          .post(`/v1/namespaces/${V}/workflows/${run.id}/complete`)
          .set('Authorization', insider)
          .send({
            workerId: forged.workerId,
            leaseEpoch: forged.leaseEpoch,
            output: 'pwned',
            ...('leaseToken' in forged ? { leaseToken: forged.leaseToken } : {}),
          });
        expect([400, 409]).toContain(res.status);
      }
      const [row] = await h.query(`SELECT status FROM workflow_runs WHERE id = $1`, [run.id]);
      expect(row!.status).toBe('RUNNING');
      release.resolve();
      expect(await client.result(run.id)).toBe('paid');
      await worker.stop();
    });
  });

  test('bad key requests name the field and the limit', async () => {
    const admin = bearer(TEST_ADMIN_KEY);
    const post = (body: object) => h.http().post('/v1/admin/keys').set('Authorization', admin).send(body);
    expect((await post({ name: 'x', namespaces: [], roles: ['client'] })).body.error.field).toBe('namespaces');
    expect((await post({ name: 'x', namespaces: ['a'], roles: ['root'] })).body.error.field).toBe('roles[0]');
    expect((await post({ name: '', namespaces: ['a'], roles: ['client'] })).body.error.field).toBe('name');
    expect((await post({ name: 'x', namespaces: ['a'], roles: ['client'], extra: 1 })).status).toBe(400);
    const grpcBad = await grpc('AdminService/CreateApiKey', { name: 'x', namespaces: ['a'], roles: ['root'] }, admin);
    expect(grpcBad.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect((await h.query(`SELECT count(*)::int AS n FROM api_keys WHERE name = 'x'`))[0]!.n).toBe(0);
  });
});

describe('abuse limits', () => {
  let h: TestHarness;
  const NS = 'limited';
  // A sustained rate no test can reach by accident, and a small burst.
  const RATE = 1;
  const BURST = 5;

  beforeAll(async () => {
    h = await TestHarness.start({
      overrides: { ...KEYS_REQUIRED, rateLimitPerSecond: RATE, rateLimitBurst: BURST, payloadLimitBytes: 64 * 1024 },
    });
  });
  afterAll(() => h?.stop());

  test('a key over its rate gets 429 / RESOURCE_EXHAUSTED with a retry hint; other keys do not', async () => {
    const noisy = await createKey(h, 'noisy', [NS], [Role.CLIENT]);
    const quiet = await createKey(h, 'quiet', [NS], [Role.CLIENT]);
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 40 }, () =>
        h.http().get(`/v1/namespaces/${NS}/workflows`).set('Authorization', bearer(noisy.secret)),
      ),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const ok = replies.filter((r) => r.status === 200).length;
    const limited = replies.filter((r) => r.status === 429);
    // The bucket refills at RATE per second while the calls are in flight.
    expect(ok).toBeLessThanOrEqual(BURST + Math.ceil(elapsedS * RATE));
    expect(limited.length).toBe(40 - ok);
    expect(limited[0]!.body.error.code).toBe('RESOURCE_EXHAUSTED');
    expect(limited[0]!.body.error.retryAfterMs).toBeGreaterThan(0);
    expect(Number(limited[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    const grpc = await grpcStatus(
      h.grpcAddress,
      grpcMethods().get('WorkflowService/List')!,
      { namespace: NS },
      bearer(noisy.secret),
    );
    expect(grpc.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    const sdkError = await h
      .client(NS, { apiKey: noisy.secret })
      .list()
      .then(
        () => null,
        (e: unknown) => e as BatonError,
      );
    expect(sdkError?.code).toBe('RESOURCE_EXHAUSTED');

    await h.http().get(`/v1/namespaces/${NS}/workflows`).set('Authorization', bearer(quiet.secret)).expect(200);
  });

  test('an oversized body is refused before any key is looked at', async () => {
    const huge = { workflowType: 'w', input: 'x'.repeat(2 * 1024 * 1024) };
    const res = await h.http().post(`/v1/namespaces/${NS}/workflows`).send(huge);
    expect([res.status, res.body.error?.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const grpc = await grpcStatus(h.grpcAddress, grpcMethods().get('WorkflowService/Start')!, {
      namespace: NS,
      workflowType: 'w',
      input: { data: Buffer.alloc(1024 * 1024), encoding: 'binary' },
    });
    expect(grpc.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(grpc.details).toMatch(/larger than max/);
  });
});

describe('safe defaults', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ apps: ['matching', 'scheduler', 'watchdog'] });
  });
  afterAll(() => h?.stop());

  test('the frontend started on its own with defaults answers 401 to an anonymous call', async () => {
    // The harness runs open on loopback; unset BATON_AUTH and the service's own default applies.
    const frontend = h.spawnApp('frontend', { BATON_AUTH: '', BATON_HOST: '', BATON_LOG_LEVEL: 'info' });
    await frontend.ready();
    const res = await fetch(`http://127.0.0.1:${h.config.httpPort}/v1/namespaces/default/workflows`);
    expect([res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([
      401,
      'UNAUTHENTICATED',
    ]);
    const grpc = await grpcStatus(h.grpcAddress, grpcMethods().get('WorkflowService/List')!, {
      namespace: 'default',
    });
    expect(grpc.code).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(frontend.output).toMatch(/API keys required/);
  });
});

describe('long polls per worker', () => {
  let h: TestHarness;
  const NS = 'polls';
  const MAX = 2;

  beforeAll(async () => {
    h = await TestHarness.start({ pollTimeoutSecs: 30, overrides: { ...KEYS_REQUIRED, maxPollsPerWorker: MAX } });
  });
  afterAll(() => h?.stop());

  test('a worker holds at most BATON_MAX_POLLS_PER_WORKER polls open; a finished poll frees its place', async () => {
    const workerKey = bearer((await createKey(h, 'poller', [NS], [Role.WORKER])).secret);
    const clientKey = await createKey(h, 'starter', [NS], [Role.CLIENT]);
    const pollTask = grpcMethods().get('WorkerService/PollTask')!;
    const registered = await h
      .http()
      .post(`/v1/namespaces/${NS}/workers`)
      .set('Authorization', workerKey)
      .send({ queue: 'idle', workflowTypes: ['nothing'] })
      .expect(201);
    const poll = { namespace: NS, queue: 'idle', workerId: registered.body.workerId, workflowTypes: ['nothing'] };
    // Nothing arrives on this queue yet: these polls stay open (for up to the 30 s poll timeout).
    const open = Array.from({ length: MAX }, () => grpcStatus(h.grpcAddress, pollTask, poll, workerKey, 60_000));
    const refused = await waitFor(async () => {
      const status = await grpcStatus(h.grpcAddress, pollTask, poll, workerKey);
      return status.code === GrpcStatus.RESOURCE_EXHAUSTED ? status : null;
    }, 'a poll past the limit to be refused');
    expect(refused.details).toMatch(/the limit is 2/);
    // A run for one of them: that poll is answered, and its place is free again.
    await h.client(NS, { apiKey: clientKey.secret }).start('nothing', null, { queue: 'idle' });
    expect((await Promise.race(open)).code).toBe(GrpcStatus.OK);
    const admitted = await waitFor(async () => {
      const status = await grpcStatus(h.grpcAddress, pollTask, poll, workerKey, 500);
      return status.code === GrpcStatus.RESOURCE_EXHAUSTED ? null : status;
    }, 'a poll to be admitted once another ended');
    // Admitted, it waits for work like any poll (here until the call's own short deadline).
    expect(admitted.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
  });
});
