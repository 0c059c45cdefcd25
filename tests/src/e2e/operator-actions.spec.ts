import { Role } from '@baton/contracts';
import { RetentionRepository, Sql, createDataSource } from '@baton/persistence';
import {
  BatonError,
  CancelledError,
  NonRetryableError,
  WorkflowFailedError,
  WorkflowTerminatedError,
} from '@baton/sdk';
import type { Client, Worker, WorkflowContext } from '@baton/sdk';
import { KEYS_REQUIRED, TestHarness, createKey, deferred, waitFor } from '../index';
import type { CreatedKey } from '../index';

/*
 * Operator actions (issue 11, item 4): terminate, retry a FAILED run from
 * where it failed, reset a run to before a step; each recorded in the run's
 * history with the API key that acted. Keys are required here, so that the
 * history has an actor to name; the operator's key has the admin role.
 */

const NS = 'default';

type Counts = Record<string, number>;

/** A step body that counts its executions and returns `<id>-<n>` (n: this execution's number). */
function counted(counts: Counts, id: string) {
  return () => {
    counts[id] = (counts[id] ?? 0) + 1;
    return `${id}-${counts[id]}`;
  };
}

/** The error a rejected call failed with, as code, field and message. */
async function refusal(call: Promise<unknown>): Promise<{ code: string; field?: string; message: string }> {
  const err = await call.then(
    () => {
      throw new Error('the call succeeded; a refusal was expected');
    },
    (e: unknown) => e,
  );
  if (!(err instanceof BatonError)) throw err;
  return { code: err.code, ...(err.field ? { field: err.field } : {}), message: err.message };
}

describe('operator actions', () => {
  let h: TestHarness;
  let operator: CreatedKey;
  let app: CreatedKey;
  let workerKey: CreatedKey;
  let admin: Client;
  let client: Client;

  beforeAll(async () => {
    h = await TestHarness.start({ overrides: KEYS_REQUIRED });
    operator = await createKey(h, 'operator', [NS], [Role.ADMIN]);
    app = await createKey(h, 'app', [NS], [Role.CLIENT]);
    workerKey = await createKey(h, 'worker', [NS], [Role.WORKER]);
    admin = h.client(NS, { apiKey: operator.secret });
    client = h.client(NS, { apiKey: app.secret });
  });
  afterAll(() => h?.stop());

  /** A started worker on its own queue with `handlers` registered. */
  async function workerWith(
    handlers: Record<string, (ctx: WorkflowContext, input: never) => Promise<unknown>>,
  ): Promise<{ queue: string; worker: Worker }> {
    const queue = h.unique();
    const worker = h.worker({ namespace: NS, queue, apiKey: workerKey.secret });
    for (const [type, handler] of Object.entries(handlers)) worker.register(type, handler);
    await worker.start();
    return { queue, worker };
  }

  const http = (method: 'get' | 'post', path: string) =>
    h.http()[method](`/v1/namespaces/${NS}/workflows/${path}`).set('Authorization', `Bearer ${operator.secret}`);

  test('terminate_running_run_records_reason', async () => {
    const counts: Counts = {};
    const inHold = deferred();
    const gate = deferred();
    const handlerDone = deferred<unknown>();
    const aborted = deferred<unknown>();
    const { queue, worker } = await workerWith({
      blocked: async (ctx) => {
        ctx.signal.addEventListener('abort', () => aborted.resolve(ctx.signal.reason));
        try {
          await ctx.step('a', counted(counts, 'a'));
          await ctx.step('hold', async () => {
            inHold.resolve();
            await gate.promise;
            return counted(counts, 'hold')();
          });
          await ctx.step('after', counted(counts, 'after'));
          return 'finished';
        } finally {
          handlerDone.resolve(null);
        }
      },
    });
    try {
      const { id } = await client.start('blocked', null, { queue });
      await inHold.promise;
      expect((await client.get(id)).status).toBe('RUNNING');

      const reason = 'stuck on a bad card; refund issued by hand (OPS-42)';
      const { run, alreadyTerminated } = await admin.terminate(id, reason);
      expect(alreadyTerminated).toBe(false);
      expect(run.status).toBe('TERMINATED');

      // The worker is told at once: the handler's signal aborts and the worker lets the run go.
      expect(await aborted.promise).toBeInstanceOf(CancelledError);
      await waitFor(() => worker.activeCount === 0, 'the worker to let the terminated run go');
      // The body in flight finishes; nothing after it runs, and nothing it did is recorded.
      gate.resolve();
      await handlerDone.promise;
      expect(counts).toEqual({ a: 1, hold: 1 });
      expect((await client.steps(id)).map((s) => [s.stepId, s.status])).toEqual([['a', 'COMPLETED']]);

      const got = await client.get(id);
      expect(got.status).toBe('TERMINATED');
      expect(got.error).toMatchObject({ message: reason, type: 'WorkflowTerminated' });
      expect(got.lockedBy).toBeNull();
      const history = await client.history(id);
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({
        runId: id,
        action: 'TERMINATED',
        actor: operator.id,
        reason,
        detail: { from: 'RUNNING' },
      });
      const failure = await client.result(id).catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(WorkflowTerminatedError);
      expect(failure).toMatchObject({ runId: id, reason });
      // Listed under its own status; terminating again changes nothing and records nothing.
      expect((await client.list({ status: 'TERMINATED' })).runs.map((r) => r.id)).toContain(id);
      expect((await admin.terminate(id, 'again')).alreadyTerminated).toBe(true);
      expect(await client.history(id)).toHaveLength(1);
      expect(counts).toEqual({ a: 1, hold: 1 });
    } finally {
      gate.resolve();
      await worker.stop();
    }
  });

  test('failed_run_retried_from_failed_step', async () => {
    const counts: Counts = {};
    let fixed = false;
    const { queue, worker } = await workerWith({
      charge: async (ctx) => {
        const a = await ctx.step('a', counted(counts, 'a'));
        const b = await ctx.step('b', counted(counts, 'b'));
        const c = await ctx.step('c', () => {
          counted(counts, 'c')();
          if (!fixed) throw new NonRetryableError('card declined');
          return 'charged';
        });
        return [a, b, c];
      },
    });
    try {
      const { id } = await client.start('charge', null, { queue, retry: { maxAttempts: 3 } });
      await expect(client.result(id)).rejects.toBeInstanceOf(WorkflowFailedError);
      expect(counts).toEqual({ a: 1, b: 1, c: 1 });
      expect((await client.steps(id)).map((s) => [s.stepId, s.status, s.final])).toEqual([
        ['a', 'COMPLETED', false],
        ['b', 'COMPLETED', false],
        ['c', 'FAILED', true],
      ]);

      fixed = true;
      const retried = await admin.retry(id, { reason: 'card updated' });
      expect(retried.status).toBe('PENDING');
      expect(retried.error).toBeNull();
      expect(retried.attempt).toBe(1);
      expect(await client.result(id)).toEqual(['a-1', 'b-1', 'charged']);
      // a and b replayed from their outputs; only c ran again.
      expect(counts).toEqual({ a: 1, b: 1, c: 2 });
      expect((await client.steps(id)).map((s) => [s.stepId, s.status])).toEqual([
        ['a', 'COMPLETED'],
        ['b', 'COMPLETED'],
        ['c', 'COMPLETED'],
      ]);
      const history = await client.history(id);
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({
        action: 'RETRIED',
        actor: operator.id,
        reason: 'card updated',
        detail: { from: 'FAILED', attempts: '1', error: 'card declined', steps: 'c' },
      });
    } finally {
      await worker.stop();
    }
  });

  test('reset_run_to_step_reexecutes_after_it', async () => {
    const counts: Counts = {};
    const { queue, worker } = await workerWith({
      three: async (ctx) => [
        await ctx.step('a', counted(counts, 'a')),
        await ctx.step('b', counted(counts, 'b')),
        await ctx.step('c', counted(counts, 'c')),
      ],
    });
    try {
      const { id } = await client.start('three', null, { queue });
      expect(await client.result(id)).toEqual(['a-1', 'b-1', 'c-1']);

      const reset = await admin.reset(id, { stepId: 'b', reason: 'b read a stale price' });
      expect(reset.status).toBe('PENDING');
      expect(reset.output).toBeUndefined();
      expect(await client.result(id)).toEqual(['a-1', 'b-2', 'c-2']);
      expect(counts).toEqual({ a: 1, b: 2, c: 2 });
      expect((await client.steps(id)).map((s) => [s.stepId, s.output])).toEqual([
        ['a', 'a-1'],
        ['b', 'b-2'],
        ['c', 'c-2'],
      ]);
      const history = await client.history(id);
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({
        action: 'RESET',
        actor: operator.id,
        reason: 'b read a stale price',
        detail: { from: 'COMPLETED', stepId: 'b', seq: '1', deletedSteps: '2' },
      });
    } finally {
      await worker.stop();
    }
  });

  test('reset_running_run_takes_it_from_its_worker', async () => {
    const counts: Counts = {};
    const firstInHold = deferred();
    const firstGate = deferred();
    const firstAborted = deferred<unknown>();
    let executions = 0;
    const { queue, worker } = await workerWith({
      held: async (ctx) => {
        const execution = ++executions;
        if (execution === 1) ctx.signal.addEventListener('abort', () => firstAborted.resolve(ctx.signal.reason));
        const a = await ctx.step('a', counted(counts, 'a'));
        const hold = await ctx.step('hold', async () => {
          if (execution === 1) {
            firstInHold.resolve();
            await firstGate.promise;
          }
          return `${counted(counts, 'hold')()}@${execution}`;
        });
        return [a, hold, await ctx.step('b', counted(counts, 'b'))];
      },
    });
    try {
      const { id } = await client.start('held', null, { queue });
      await firstInHold.promise;
      const before = await client.get(id);
      // `hold` is running, not recorded: the run goes back to before `a`, its one recorded step.
      await admin.reset(id, { stepId: 'a' });
      // The first execution is stopped; the run is claimed again and runs from the top.
      expect(await firstAborted.promise).toBeInstanceOf(CancelledError);
      expect(await client.result(id)).toEqual(['a-2', 'hold-1@2', 'b-1']);
      // The first execution's body finishes late: its record is refused, the run keeps the second's.
      firstGate.resolve();
      await waitFor(() => counts.hold === 2, 'the first execution to finish its body');
      await waitFor(() => worker.activeCount === 0, 'the worker to hold nothing');
      expect((await client.steps(id)).map((s) => [s.stepId, s.output])).toEqual([
        ['a', 'a-2'],
        ['hold', 'hold-1@2'],
        ['b', 'b-1'],
      ]);
      expect(counts).toEqual({ a: 2, hold: 2, b: 1 });
      const after = await client.get(id);
      expect(after.status).toBe('COMPLETED');
      expect(after.leaseEpoch).toBeGreaterThan(before.leaseEpoch);
      expect((await client.history(id))[0]).toMatchObject({ action: 'RESET', detail: { from: 'RUNNING' } });
    } finally {
      firstGate.resolve();
      await worker.stop();
    }
  });

  test('old_lease_refused_after_terminate_and_reset', async () => {
    // A worker speaking the protocol by hand, so that it can try what an SDK worker would not.
    const queue = h.unique();
    const asWorker = (req: ReturnType<ReturnType<TestHarness['http']>['post']>) =>
      req.set('Authorization', `Bearer ${workerKey.secret}`);
    const registered = await asWorker(h.http().post(`/v1/namespaces/${NS}/workers`))
      .send({ queue, workflowTypes: ['raw'] })
      .expect(201);
    const workerId: string = registered.body.workerId;
    const claim = async (runId: string) =>
      waitFor(async () => {
        const res = await asWorker(h.http().post(`/v1/namespaces/${NS}/workers/${workerId}/poll`)).send({
          queue,
          workflowTypes: ['raw'],
        });
        return res.body.task?.runId === runId ? (res.body.task as { leaseEpoch: number; leaseToken: string }) : null;
      }, `a claim of ${runId}`);
    const completeStep = (runId: string, lease: { leaseEpoch: number; leaseToken: string }, output: unknown) =>
      asWorker(h.http().post(`/v1/namespaces/${NS}/workflows/${runId}/steps/a/complete`)).send({
        workerId,
        leaseEpoch: lease.leaseEpoch,
        leaseToken: lease.leaseToken,
        seq: 0,
        output,
      });

    const { id: terminated } = await client.start('raw', null, { queue });
    const first = await claim(terminated);
    await admin.terminate(terminated, 'stop');
    const late = await completeStep(terminated, first, 1);
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'RUN_CANCELLED' });
    expect(late.body.error.message).toMatch(/terminated/);

    const { id: reset } = await client.start('raw', null, { queue });
    const before = await claim(reset);
    expect((await completeStep(reset, before, 'first')).status).toBe(200);
    await admin.reset(reset, { stepId: 'a' });
    const stale = await completeStep(reset, before, 'stale');
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'LEASE_LOST' });
    expect(await client.steps(reset)).toEqual([]);
    // The next claim holds a new lease, under which the step records again.
    const after = await claim(reset);
    expect(after.leaseEpoch).toBe(before.leaseEpoch + 1);
    expect((await completeStep(reset, after, 'second')).status).toBe(200);
    expect((await client.steps(reset)).map((step) => step.output)).toEqual(['second']);
  });

  test('reset_to_a_signal_wait_takes_its_signal_again', async () => {
    const counts: Counts = {};
    const { queue, worker } = await workerWith({
      approval: async (ctx) => {
        const before = await ctx.step('before', counted(counts, 'before'));
        const decision = await ctx.waitForSignal<string>('decision', { stepId: 'wait' });
        return [before, decision, await ctx.step('after', counted(counts, 'after'))];
      },
    });
    try {
      const { id } = await client.start('approval', null, { queue });
      await client.signal(id, 'decision', 'approved');
      expect(await client.result(id)).toEqual(['before-1', 'approved', 'after-1']);

      // The wait runs again and takes the same signal: no second send.
      await admin.reset(id, { stepId: 'wait', reason: 'after ran with a bad config' });
      expect(await client.result(id)).toEqual(['before-1', 'approved', 'after-2']);
      expect(counts).toEqual({ before: 1, after: 2 });
    } finally {
      await worker.stop();
    }
  });

  test('retry_of_a_parent_whose_child_failed_starts_a_new_child', async () => {
    let childFails = true;
    const { queue, worker } = await workerWith({
      parent: async (ctx) => await ctx.child<string>('kid', null, { stepId: 'kid' }),
      kid: async () => {
        if (childFails) throw new NonRetryableError('out of stock');
        return 'shipped';
      },
    });
    try {
      const { id } = await client.start('parent', null, { queue });
      await expect(client.result(id)).rejects.toBeInstanceOf(WorkflowFailedError);
      const [failedChild] = (await client.list({ parentRunId: id })).runs;
      expect(failedChild).toMatchObject({ status: 'FAILED' });

      childFails = false;
      await admin.retry(id);
      expect(await client.result(id)).toBe('shipped');
      // The failed child is left as it was; the retried step started a new one.
      const children = (await client.list({ parentRunId: id })).runs;
      expect(children.map((c) => c.status).sort()).toEqual(['COMPLETED', 'FAILED']);
      expect(children.find((c) => c.status === 'COMPLETED')!.id).not.toBe(failedChild!.id);
    } finally {
      await worker.stop();
    }
  });

  test('terminating_parent_cancels_its_children', async () => {
    const childStarted = deferred<string>();
    const { queue, worker } = await workerWith({
      parent: async (ctx) => {
        const child = ctx.child('child', null, { stepId: 'the-child' });
        void child.runId.then(childStarted.resolve);
        return await child;
      },
      child: async (ctx) => {
        await ctx.sleep('long', '1h');
        return 'never';
      },
    });
    try {
      const { id: parent } = await client.start('parent', null, { queue });
      const childId = await childStarted.promise;
      await waitFor(async () => (await client.get(childId)).status === 'SLEEPING', 'the child to sleep');
      await admin.terminate(parent, 'order abandoned');
      const child = await client.get(childId);
      expect(child.status).toBe('CANCELLED');
      expect(await client.history(childId)).toEqual([
        expect.objectContaining({
          action: 'CANCELLED',
          actor: operator.id,
          reason: `parent run ${parent} was terminated: order abandoned`,
        }),
      ]);
      expect((await client.get(parent)).status).toBe('TERMINATED');
    } finally {
      await worker.stop();
    }
  });

  test('client_cancel_recorded_in_history', async () => {
    const { id } = await client.start('nobody-runs-this', null, { queue: h.unique() });
    await client.cancel(id);
    expect(await client.history(id)).toEqual([
      expect.objectContaining({ action: 'CANCELLED', actor: app.id, reason: null, detail: { from: 'PENDING' } }),
    ]);
    // The history is the client's to read, the actions the operator's.
    expect((await refusal(client.terminate(id, 'no'))).code).toBe('PERMISSION_DENIED');
    const res = await h
      .http()
      .get(`/v1/namespaces/${NS}/workflows/${id}/history`)
      .set('Authorization', `Bearer ${app.secret}`)
      .expect(200);
    expect(res.body.events).toEqual([
      expect.objectContaining({ runId: id, action: 'CANCELLED', actor: app.id, detail: { from: 'PENDING' } }),
    ]);
  });

  test('operator_refusals_clear_and_identical_over_http_and_grpc', async () => {
    const { queue, worker } = await workerWith({ done: async () => 'ok' });
    try {
      const { id: completed } = await client.start('done', null, { queue });
      await client.result(completed);
      const missing = '0190a000-0000-7000-8000-000000000000';
      const cases: Array<{ grpc: () => Promise<unknown>; path: string; body: object; status: number; code: string }> = [
        {
          grpc: () => admin.retry(completed),
          path: `${completed}/retry`,
          body: {},
          status: 409,
          code: 'FAILED_PRECONDITION',
        },
        {
          grpc: () => admin.reset(completed, { stepId: 'nope' }),
          path: `${completed}/reset`,
          body: { stepId: 'nope' },
          status: 400,
          code: 'INVALID_ARGUMENT',
        },
        {
          grpc: () => admin.terminate(completed, 'too late'),
          path: `${completed}/terminate`,
          body: { reason: 'too late' },
          status: 409,
          code: 'FAILED_PRECONDITION',
        },
        {
          grpc: () => admin.terminate(completed, ''),
          path: `${completed}/terminate`,
          body: {},
          status: 400,
          code: 'INVALID_ARGUMENT',
        },
        {
          grpc: () => admin.reset(completed, { stepId: '' }),
          path: `${completed}/reset`,
          body: {},
          status: 400,
          code: 'INVALID_ARGUMENT',
        },
        {
          grpc: () => admin.terminate(completed, 'x'.repeat(1025)),
          path: `${completed}/terminate`,
          body: { reason: 'x'.repeat(1025) },
          status: 400,
          code: 'INVALID_ARGUMENT',
        },
        {
          grpc: () => admin.retry(missing),
          path: `${missing}/retry`,
          body: {},
          status: 404,
          code: 'NOT_FOUND',
        },
      ];
      for (const c of cases) {
        const viaGrpc = await refusal(c.grpc());
        const res = await http('post', c.path).send(c.body);
        expect([c.path, res.status]).toEqual([c.path, c.status]);
        expect(res.body.error).toMatchObject(viaGrpc);
        expect(viaGrpc.code).toBe(c.code);
      }
      expect((await refusal(admin.reset(completed, { stepId: 'nope' }))).field).toBe('stepId');
      expect((await refusal(admin.terminate(completed, ''))).field).toBe('reason');
      expect((await refusal(admin.retry(completed))).message).toMatch(/is COMPLETED; only a FAILED run can be retried/);
      // Nothing was changed, nothing recorded.
      expect((await client.get(completed)).status).toBe('COMPLETED');
      expect(await client.history(completed)).toEqual([]);
    } finally {
      await worker.stop();
    }
  });

  test('retry_refused_while_another_live_run_holds_the_external_id', async () => {
    const hold = deferred();
    const { queue, worker } = await workerWith({
      fails: async () => {
        throw new NonRetryableError('broken');
      },
      holds: async () => {
        await hold.promise;
        return 'done';
      },
    });
    try {
      const externalId = h.unique('order');
      const { id: failed } = await client.start('fails', null, { queue, externalId });
      await expect(client.result(failed)).rejects.toBeInstanceOf(WorkflowFailedError);
      const { id: holder } = await client.start('holds', null, { queue, externalId });
      const viaGrpc = await refusal(admin.retry(failed));
      expect(viaGrpc).toMatchObject({ code: 'ALREADY_EXISTS', field: 'externalId' });
      expect(viaGrpc.message).toContain(holder);
      const res = await http('post', `${failed}/retry`).send({});
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject(viaGrpc);
      expect((await client.get(failed)).status).toBe('FAILED');
      // Once the key is free again, the retry goes through.
      hold.resolve();
      await client.result(holder);
      expect((await admin.retry(failed)).status).toBe('PENDING');
    } finally {
      hold.resolve();
      await worker.stop();
    }
  });

  test('history_goes_with_its_run', async () => {
    const { id: deleted } = await client.start('nobody-runs-this', null, { queue: h.unique() });
    const { id: purged } = await client.start('nobody-runs-this', null, { queue: h.unique() });
    await admin.terminate(deleted, 'cleanup');
    await admin.terminate(purged, 'cleanup');
    await client.delete(deleted);
    // Retention purges a terminated run (its own index) with its history.
    await h.query(`UPDATE workflow_runs SET finished_at = now() - interval '2 hours' WHERE id = $1`, [purged]);
    const dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 1 });
    await dataSource.initialize();
    try {
      const retention = new RetentionRepository(new Sql(dataSource));
      // The harness's own watchdog may purge it first: either way it must go.
      await waitFor(async () => {
        await retention.purgeExpiredRuns(3_600_000, 100);
        return (await h.query(`SELECT 1 FROM workflow_runs WHERE id = $1`, [purged])).length === 0;
      }, 'retention to purge the terminated run');
    } finally {
      await dataSource.destroy();
    }
    const left = await h.query(`SELECT count(*)::int AS n FROM run_history WHERE run_id = ANY($1::uuid[])`, [
      [deleted, purged],
    ]);
    expect(left).toEqual([{ n: 0 }]);
    expect((await refusal(client.history(purged))).code).toBe('NOT_FOUND');
  });
});
