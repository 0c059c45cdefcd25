import { BatonError, WorkflowFailedError } from '@baton/sdk';
import type { ListOptions, WorkflowContext, WorkflowRun } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';

/** What the promise rejected with (an Error saying so if it resolved), read as the BatonError it should be. */
async function failure(promise: Promise<unknown>): Promise<BatonError> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`) as BatonError,
    (err: unknown) => err as BatonError,
  );
}

describe('10. Observability', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('10.1 listing and querying', () => {
    test('list_workflows_pagination_works', async () => {
      const ns = h.unique('ns');
      const client = h.client(ns);
      const queue = h.unique();
      const initial: string[] = [];
      for (let i = 0; i < 10; i++) initial.push((await client.start('listed', { i }, { queue })).id);
      initial.push(
        ...(
          await Promise.all(Array.from({ length: 15 }, (_, i) => client.start('listed', { i: 10 + i }, { queue })))
        ).map((r) => r.id),
      );
      // Several runs sharing one created_at: the page boundary must fall between them without loss.
      await h.query(
        `UPDATE workflow_runs SET created_at = (SELECT created_at FROM workflow_runs WHERE id = $1) WHERE id = ANY($2::uuid[])`,
        [initial[5], initial.slice(3, 9)],
      );

      const seen: WorkflowRun[] = [];
      const inserted: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        const page = await client.list({ pageSize: 4, pageToken });
        expect(page.runs.length).toBeLessThanOrEqual(4);
        seen.push(...page.runs);
        pageToken = page.nextPageToken ?? undefined;
        pages++;
        // New runs arrive between pages: they are newer than the cursor, so they neither shift
        // nor duplicate what later pages return.
        inserted.push((await client.start('listed', { late: pages }, { queue })).id);
      } while (pageToken);

      const ids = seen.map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual([...initial].sort());
      expect(pages).toBe(Math.ceil(25 / 4));
      // Pages come newest first, ties broken by id (the database's order, at full timestamp precision).
      const expected = await h.query(
        `SELECT id FROM workflow_runs WHERE id = ANY($1::uuid[]) ORDER BY created_at DESC, id DESC`,
        [initial],
      );
      expect(ids).toEqual(expected.map((r) => r.id));
      // Lists carry no payloads (kept out of the hot path) but the full state otherwise.
      expect(seen[0]).toMatchObject({ namespace: ns, queue, workflowType: 'listed', status: 'PENDING' });

      // A fresh listing sees everything, the late runs first.
      const all: string[] = [];
      pageToken = undefined;
      do {
        const page = await client.list({ pageSize: 100, pageToken });
        all.push(...page.runs.map((r) => r.id));
        pageToken = page.nextPageToken ?? undefined;
      } while (pageToken);
      expect(all).toHaveLength(25 + inserted.length);
      expect(all.slice(0, inserted.length)).toEqual([...inserted].reverse());
      // Default page size 20.
      const first = await client.list();
      expect(first.runs).toHaveLength(20);
      expect(first.nextPageToken).toBeTruthy();

      // The same pages over HTTP.
      const httpPage = await h.http().get(`/v1/namespaces/${ns}/workflows`).query({ pageSize: 4 }).expect(200);
      expect(httpPage.body.runs).toHaveLength(4);
      const httpNext = await h
        .http()
        .get(`/v1/namespaces/${ns}/workflows`)
        .query({ pageSize: 4, pageToken: httpPage.body.nextPageToken })
        .expect(200);
      expect(httpNext.body.runs.map((r: { id: string }) => r.id)).toEqual(all.slice(4, 8));

      // Malformed tokens and sizes are INVALID_ARGUMENT, never a 500.
      const forged = (cursor: object) => Buffer.from(JSON.stringify(cursor)).toString('base64url');
      const someId = initial[0]!;
      for (const bad of [
        'garbage',
        '!!!',
        forged({ t: 1 }),
        forged({ t: 'yesterday', i: 'x' }),
        forged({ t: 'yesterday', i: someId }),
        forged({ t: '2026-02-30 00:00:00+00', i: someId }),
        forged({ t: '2026-01-01 00:00:00+00', i: `${someId}'; --` }),
      ]) {
        const err = await failure(client.list({ pageToken: bad }));
        expect(err).toBeInstanceOf(BatonError);
        expect({ bad, code: err.code, field: err.field }).toEqual({
          bad,
          code: 'INVALID_ARGUMENT',
          field: 'pageToken',
        });
        const res = await h.http().get(`/v1/namespaces/${ns}/workflows`).query({ pageToken: bad });
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'pageToken' });
      }
      await expect(client.list({ pageSize: 101 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'pageSize',
      });
      await expect(client.list({ pageSize: -1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'pageSize',
      });
    });

    test('list_workflows_filters_by_status', async () => {
      const ns = h.unique('ns');
      const client = h.client(ns);
      const queue = h.unique();
      const idleQueue = h.unique();
      const holding = deferred<void>();
      const held = deferred<void>();
      const worker = h.worker({ namespace: ns, queue });
      worker.register('ok', async () => 'ok');
      worker.register('bad', async () => {
        throw new Error('bad');
      });
      worker.register('nap', async (ctx) => {
        await ctx.sleep('nap', '1h');
      });
      worker.register('hold', async () => {
        held.resolve();
        await holding.promise;
        return 'released';
      });
      await worker.start();

      const completed = await Promise.all([client.start('ok', null, { queue }), client.start('ok', null, { queue })]);
      const failed = await client.start('bad', null, { queue, retry: { maxAttempts: 1 } });
      const sleeping = await client.start('nap', null, { queue });
      const running = await client.start('hold', null, { queue });
      const pending = await Promise.all([
        client.start('ok', null, { queue: idleQueue }),
        client.start('other', null, { queue: idleQueue }),
      ]);
      const cancelled = await client.start('ok', null, { queue: idleQueue });
      await client.cancel(cancelled.id);
      for (const r of completed) await client.result(r.id);
      await expect(client.result(failed.id)).rejects.toBeInstanceOf(WorkflowFailedError);
      await held.promise;
      await waitFor(async () => (await client.get(sleeping.id)).status === 'SLEEPING', 'the sleeper');

      const idsOf = async (filter: Parameters<typeof client.list>[0]) =>
        (await client.list({ pageSize: 100, ...filter })).runs.map((r) => r.id).sort();
      const sorted = (runs: Array<{ id: string }>) => runs.map((r) => r.id).sort();
      expect(await idsOf({ status: 'COMPLETED' })).toEqual(sorted(completed));
      expect(await idsOf({ status: 'FAILED' })).toEqual([failed.id]);
      expect(await idsOf({ status: 'CANCELLED' })).toEqual([cancelled.id]);
      expect(await idsOf({ status: 'SLEEPING' })).toEqual([sleeping.id]);
      expect(await idsOf({ status: 'RUNNING' })).toEqual([running.id]);
      expect(await idsOf({ status: 'PENDING' })).toEqual(sorted(pending));
      // Every run listed carries the status it was filtered by.
      for (const status of ['COMPLETED', 'FAILED', 'CANCELLED', 'SLEEPING', 'RUNNING', 'PENDING'] as const) {
        const page = await client.list({ status });
        for (const run of page.runs) expect(run.status).toBe(status);
      }
      // Combined with the other filters.
      expect(await idsOf({ status: 'PENDING', workflowType: 'other' })).toEqual([pending[1]!.id]);
      expect(await idsOf({ status: 'COMPLETED', queue: idleQueue })).toEqual([]);
      expect(await idsOf({ workflowType: 'ok', queue: idleQueue })).toEqual(sorted([pending[0]!, cancelled]));
      // Over HTTP.
      const http = await h.http().get(`/v1/namespaces/${ns}/workflows`).query({ status: 'FAILED' }).expect(200);
      expect(http.body.runs.map((r: { id: string }) => r.id)).toEqual([failed.id]);
      // An unknown status is refused.
      await expect(client.list({ status: 'DONE' as string as ListOptions['status'] })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'status',
      });
      const bad = await h.http().get(`/v1/namespaces/${ns}/workflows`).query({ status: 'completed; DROP TABLE x' });
      expect(bad.status).toBe(400);

      holding.resolve();
      await expect(client.result(running.id)).resolves.toBe('released');
      expect(await idsOf({ status: 'RUNNING' })).toEqual([]);
      await client.cancel(sleeping.id);
    });

    test('list_workflows_searches_by_external_id_correlation_id_and_created_time', async () => {
      const ns = h.unique('ns');
      const client = h.client(ns);
      const queue = h.unique();
      const order = await client.start('search', { n: 1 }, { queue, externalId: 'order-1', correlationId: 'cart-7' });
      const other = await client.start('search', { n: 2 }, { queue, correlationId: 'cart-7' });
      const plain = await client.start('search', { n: 3 }, { queue });
      const [a, b, c] = await Promise.all([order, other, plain].map((r) => client.get(r.id)));
      const idsOf = async (options: ListOptions) => (await client.list(options)).runs.map((r) => r.id);

      expect(await idsOf({ externalId: 'order-1' })).toEqual([order.id]);
      expect(await idsOf({ correlationId: 'cart-7' })).toEqual([other.id, order.id]);
      expect(await idsOf({ correlationId: 'cart-7', externalId: 'order-1' })).toEqual([order.id]);
      expect(await idsOf({ externalId: 'nobody' })).toEqual([]);
      // Created-time bounds: after is inclusive, before exclusive (views carry milliseconds, the table microseconds).
      const between = await idsOf({ createdAfter: b!.createdAt, createdBefore: c!.createdAt });
      expect(between).not.toContain(plain.id);
      if (b!.createdAt < c!.createdAt) expect(between).toContain(other.id);
      expect(await idsOf({ createdAfter: a!.createdAt })).toEqual(
        expect.arrayContaining([order.id, other.id, plain.id]),
      );
      expect(await idsOf({ createdBefore: a!.createdAt })).toEqual([]);

      // The same over HTTP, times as ISO 8601 text.
      const http = (query: Record<string, string>) => h.http().get(`/v1/namespaces/${ns}/workflows`).query(query);
      const byCorrelation = await http({ correlationId: 'cart-7' }).expect(200);
      expect(byCorrelation.body.runs.map((r: { id: string }) => r.id)).toEqual([other.id, order.id]);
      const future = await http({ createdAfter: new Date(Date.now() + 86_400_000).toISOString() }).expect(200);
      expect(future.body.runs).toEqual([]);
      const dateOnly = await http({ createdBefore: '2000-01-01' }).expect(200);
      expect(dateOnly.body.runs).toEqual([]);
      for (const bad of ['yesterday', '2026-13-45T00:00:00Z', '1767225600000']) {
        const res = await http({ createdAfter: bad });
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'createdAfter' });
      }
      await expect(client.list({ createdAfter: new Date(Number.NaN) })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'options.createdAfter',
      });
    });

    test('step_times_show_how_long_each_body_ran', async () => {
      const queue = h.unique();
      const client = h.client();
      const entered = [deferred(), deferred()];
      const release = [deferred(), deferred()];
      const worker = h.worker({ queue });
      worker.register('timed', async (ctx) => {
        for (const i of [0, 1]) {
          await ctx.step(`held-${i}`, async () => {
            entered[i]!.resolve();
            await release[i]!.promise;
            return i;
          });
        }
        return 'done';
      });
      await worker.start();
      const run = await client.start('timed', undefined, { queue });

      // The test holds each body open and knows, by the same clock as the worker's, for how long at least.
      const held: number[] = [];
      for (const i of [0, 1]) {
        await entered[i]!.promise;
        const since = Date.now();
        await waitFor(() => Date.now() - since >= 150, 'some time to pass while the step runs');
        held.push(Date.now() - since);
        release[i]!.resolve();
      }
      await client.result(run.id);
      const finished = await client.get(run.id);
      const steps = await client.steps(run.id);
      expect(steps.map((s) => s.stepId)).toEqual(['held-0', 'held-1']);
      for (const [i, step] of steps.entries()) {
        const ran = step.finishedAt!.getTime() - step.startedAt.getTime();
        // Recorded as completion less the measured duration (views carry milliseconds, the table microseconds).
        expect(ran).toBeGreaterThanOrEqual(held[i]! - 2);
        expect(step.startedAt.getTime()).toBeGreaterThanOrEqual(finished.startedAt!.getTime() - 2);
      }
      // The second began after the first ended.
      expect(steps[1]!.startedAt.getTime()).toBeGreaterThanOrEqual(steps[0]!.finishedAt!.getTime() - 2);

      // Over HTTP a worker reports it as durationMs; a negative one is refused naming the field.
      const res = await h
        .http()
        .post(`/v1/namespaces/default/workflows/${run.id}/steps/x/complete`)
        .send({ workerId: worker.workerId, leaseEpoch: 1, leaseToken: run.id, durationMs: -1 });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'durationMs' });
    });

    test('list_steps_for_workflow', async () => {
      const queue = h.unique();
      let flaky = 0;
      const worker = h.worker({ queue });
      worker.register('steps', async (ctx) => {
        const a = await ctx.step('reserve', () => ({ sku: 'A-1', qty: 2 }));
        const b = await ctx.step('price', () => a.qty * 10);
        await ctx.sleep('cool-off', 100);
        const c = await ctx.step(
          'charge',
          () => {
            if (++flaky === 1) throw new Error('gateway busy');
            return `charged ${b}`;
          },
          { retry: { maxAttempts: 3, initialIntervalMs: 50 } },
        );
        await ctx.step('nothing', () => undefined);
        return c;
      });
      worker.register('many', async (ctx, n: number) => {
        for (let i = 0; i < n; i++) await ctx.step(`s-${i}`, () => i);
        return n;
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('steps', null, { queue });
      await expect(client.result(run.id)).resolves.toBe('charged 20');

      const steps = await client.steps(run.id);
      expect(steps.map((s) => [s.seq, s.stepId, s.kind, s.status, s.attempt])).toEqual([
        [0, 'reserve', 'FUNCTION', 'COMPLETED', 1],
        [1, 'price', 'FUNCTION', 'COMPLETED', 1],
        [2, 'cool-off', 'SLEEP', 'COMPLETED', 1],
        [3, 'charge', 'FUNCTION', 'COMPLETED', 2],
        [4, 'nothing', 'FUNCTION', 'COMPLETED', 1],
      ]);
      expect(steps[0]!.output).toEqual({ sku: 'A-1', qty: 2 });
      expect(steps[1]!.output).toBe(20);
      expect(steps[2]!.wakeUpAt).toBeInstanceOf(Date);
      expect(steps[3]!.output).toBe('charged 20');
      for (const s of steps) {
        expect(s.runId).toBe(run.id);
        expect(s.startedAt).toBeInstanceOf(Date);
        expect(s.finishedAt!.getTime()).toBeGreaterThanOrEqual(s.startedAt.getTime());
        expect(s.final).toBe(false);
      }

      // Over HTTP, with small pages.
      const httpSteps: Array<{ stepId: string; seq: number }> = [];
      let token: string | null = null;
      do {
        const res: { body: { steps: Array<{ stepId: string; seq: number }>; nextPageToken: string | null } } = await h
          .http()
          .get(`/v1/namespaces/default/workflows/${run.id}/steps`)
          .query({ pageSize: 2, ...(token ? { pageToken: token } : {}) })
          .expect(200);
        httpSteps.push(...res.body.steps);
        token = res.body.nextPageToken;
      } while (token);
      expect(httpSteps.map((s) => s.stepId)).toEqual(['reserve', 'price', 'cool-off', 'charge', 'nothing']);

      // More steps than one page: the SDK follows the pages, in order.
      const many = await client.start('many', 130, { queue });
      await expect(client.result(many.id, { timeout: '30s' })).resolves.toBe(130);
      const manySteps = await client.steps(many.id);
      expect(manySteps.map((s) => s.stepId)).toEqual(Array.from({ length: 130 }, (_, i) => `s-${i}`));
      expect(manySteps.map((s) => s.output)).toEqual(Array.from({ length: 130 }, (_, i) => i));

      // A run without steps lists none; unknown runs and bad tokens are errors, not empty lists.
      const none = await client.start('never-runs', null, { queue: h.unique() });
      expect(await client.steps(none.id)).toEqual([]);
      await expect(client.steps('018f0000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const badToken = await h.http().get(`/v1/namespaces/default/workflows/${run.id}/steps`).query({ pageToken: 'x' });
      expect(badToken.status).toBe(400);
      expect(badToken.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'pageToken' });
    });

    test('get_workflow_returns_complete_state', async () => {
      const queue = h.unique();
      const inside = deferred<void>();
      const finish = deferred<void>();
      const worker = h.worker({ queue });
      worker.register('full', async (ctx, input: { order: string }) => {
        const charged = await ctx.step('charge', () => ({ order: input.order, amount: 42 }));
        inside.resolve();
        await finish.promise;
        return { charged, by: ctx.runId };
      });
      const client = h.client();
      const retry = {
        maxAttempts: 4,
        initialIntervalMs: 250,
        backoffCoefficient: 3,
        maxIntervalMs: 5000,
        nonRetryableErrors: ['Fatal'],
      };
      const started = await client.start(
        'full',
        { order: 'o-9' },
        {
          queue,
          externalId: 'order-o-9',
          retry,
          timeout: '1h',
          correlationId: 'corr-o-9',
          traceId: 'trace-o-9',
        },
      );
      expect(started.run).toMatchObject({
        status: 'PENDING',
        attempt: 1,
        claims: 0,
        leaseEpoch: 0,
        lockedBy: null,
        startedAt: null,
      });
      // Only now: a poll already waiting would get the run inside the start itself (eager dispatch).
      await worker.start();

      // While running: owner and lease are visible.
      await inside.promise;
      const live = await client.get(started.id);
      expect(live).toMatchObject({
        status: 'RUNNING',
        lockedBy: worker.workerId,
        claims: 1,
        leaseEpoch: 1,
        finishedAt: null,
      });
      expect(live.lockedUntil!.getTime()).toBeGreaterThan(Date.now() - 1000);
      expect(live.startedAt).toBeInstanceOf(Date);
      finish.resolve();
      await client.result(started.id);

      const run = await client.get(started.id);
      expect(run).toMatchObject({
        id: started.id,
        namespace: 'default',
        queue,
        workflowType: 'full',
        status: 'COMPLETED',
        externalId: 'order-o-9',
        attempt: 1,
        claims: 1,
        leaseEpoch: 1,
        retry,
        input: { order: 'o-9' },
        output: { charged: { order: 'o-9', amount: 42 }, by: started.id },
        error: null,
        correlationId: 'corr-o-9',
        traceId: 'trace-o-9',
        scheduleId: null,
        lockedBy: null,
        lockedUntil: null,
        wakeUpAt: null,
      });
      // The deadline is fixed at start: created_at + timeout.
      expect(run.deadlineAt!.getTime() - run.createdAt.getTime()).toBe(3_600_000);
      expect(run.startedAt!.getTime()).toBeGreaterThanOrEqual(run.createdAt.getTime());
      expect(run.finishedAt!.getTime()).toBeGreaterThanOrEqual(run.startedAt!.getTime());
      expect(run.updatedAt.getTime()).toBeGreaterThanOrEqual(run.finishedAt!.getTime());
      expect(run.availableAt).toBeInstanceOf(Date);

      // The same state over HTTP, timestamps as ISO text.
      const http = await h.http().get(`/v1/namespaces/default/workflows/${started.id}`).expect(200);
      expect(http.body).toMatchObject({
        id: started.id,
        status: 'COMPLETED',
        externalId: 'order-o-9',
        retry,
        input: { order: 'o-9' },
        output: { charged: { order: 'o-9', amount: 42 }, by: started.id },
        correlationId: 'corr-o-9',
        traceId: 'trace-o-9',
        createdAt: run.createdAt.toISOString(),
        finishedAt: run.finishedAt!.toISOString(),
        deadlineAt: run.deadlineAt!.toISOString(),
      });

      // A failed run reports its error; an unknown id is NOT_FOUND.
      const failQueue = h.unique();
      const failWorker = h.worker({ queue: failQueue });
      failWorker.register('fails', async () => {
        throw new TypeError('nope');
      });
      await failWorker.start();
      const failed = await client.start('fails', null, { queue: failQueue, retry: { maxAttempts: 1 } });
      await expect(client.result(failed.id)).rejects.toBeInstanceOf(WorkflowFailedError);
      const failedRun = await client.get(failed.id);
      expect(failedRun).toMatchObject({
        status: 'FAILED',
        output: undefined,
        error: { message: 'nope', type: 'TypeError' },
      });
      expect(failedRun.error!.stack).toContain('TypeError: nope');
      await expect(client.get('018f0000-0000-7000-8000-000000000000')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await h.http().get('/v1/namespaces/default/workflows/018f0000-0000-7000-8000-000000000000').expect(404);
    });
  });

  describe('10.2 tracing', () => {
    test('correlation_id_propagated_through_execution', async () => {
      const queue = h.unique();
      const seen: Array<{ run: string; where: string; correlationId: string | null }> = [];
      // Per run: with one shared counter, whichever run reached `second` first took the only step retry.
      const secondAttempts = new Map<string, number>();
      const worker = h.worker({ queue });
      const note = (ctx: WorkflowContext, where: string) =>
        seen.push({ run: ctx.runId, where, correlationId: ctx.correlationId });
      worker.register('traced', async (ctx) => {
        note(ctx, `handler@${ctx.attempt}`);
        await ctx.step('first', () => note(ctx, 'step:first'));
        await ctx.sleep('pause', 50);
        await ctx.step(
          'second',
          () => {
            note(ctx, 'step:second');
            const attempt = (secondAttempts.get(ctx.runId) ?? 0) + 1;
            secondAttempts.set(ctx.runId, attempt);
            if (attempt === 1) throw new Error('retry me');
          },
          { retry: { maxAttempts: 2, initialIntervalMs: 50 } },
        );
        if (ctx.attempt === 1) throw new Error('workflow retry');
        return ctx.correlationId;
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('traced', null, {
        queue,
        correlationId: 'req-7f3a/💳',
        retry: { maxAttempts: 2, initialIntervalMs: 50 },
      });
      const plain = await client.start('traced', null, { queue, retry: { maxAttempts: 2, initialIntervalMs: 50 } });
      await expect(client.result(run.id)).resolves.toBe('req-7f3a/💳');
      await expect(client.result(plain.id)).resolves.toBeNull();

      const mine = seen.filter((s) => s.run === run.id);
      // Initial execution, replay after the sleep, replay after the step retry, then a workflow retry.
      expect(mine.filter((s) => s.where.startsWith('handler')).length).toBeGreaterThanOrEqual(4);
      expect(mine.some((s) => s.where === 'handler@2')).toBe(true);
      expect(mine.some((s) => s.where === 'step:second')).toBe(true);
      for (const s of mine) expect(s).toMatchObject({ correlationId: 'req-7f3a/💳' });
      for (const s of seen.filter((x) => x.run === plain.id)) expect(s.correlationId).toBeNull();

      // Stored and visible through every read path.
      expect((await client.get(run.id)).correlationId).toBe('req-7f3a/💳');
      expect((await client.list({ queue })).runs.find((r) => r.id === run.id)!.correlationId).toBe('req-7f3a/💳');
      const http = await h.http().get(`/v1/namespaces/default/workflows/${run.id}`).expect(200);
      expect(http.body.correlationId).toBe('req-7f3a/💳');
      // Too long is refused, like every other text field.
      await expect(client.start('traced', null, { queue, correlationId: 'c'.repeat(256) })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'correlationId',
      });
    });

    test('trace_id_maintained_across_replay', async () => {
      const queue = h.unique();
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const seen: Array<{ worker: string; where: string; traceId: string | null; runId: string }> = [];
      let flaky = 0;
      const handler = (name: string) => async (ctx: WorkflowContext) => {
        seen.push({ worker: name, where: 'handler', traceId: ctx.traceId, runId: ctx.runId });
        await ctx.step('prepare', () =>
          seen.push({ worker: name, where: 'prepare', traceId: ctx.traceId, runId: ctx.runId }),
        );
        await ctx.sleep('wait', 1500);
        await ctx.step(
          'commit',
          () => {
            seen.push({ worker: name, where: 'commit', traceId: ctx.traceId, runId: ctx.runId });
            if (++flaky === 1) throw new Error('retry once');
          },
          { retry: { maxAttempts: 2, initialIntervalMs: 50 } },
        );
        return ctx.traceId;
      };
      // The first worker stops while the run sleeps (long enough for it to be gone before the
      // wake-up); another one (a "restart") replays it.
      const first = h.worker({ queue });
      first.register('traced', handler('first'));
      await first.start();
      const client = h.client();
      const run = await client.start('traced', null, { queue, traceId });
      await waitFor(async () => (await client.get(run.id)).status === 'SLEEPING', 'the run to sleep');
      await first.stop();
      const second = h.worker({ queue });
      second.register('traced', handler('second'));
      await second.start();
      await expect(client.result(run.id)).resolves.toBe(traceId);

      // One execution before the sleep, one after it, one after the step retry: same trace id throughout.
      expect(seen.map((s) => `${s.worker}:${s.where}`)).toEqual([
        'first:handler',
        'first:prepare',
        'second:handler',
        'second:commit',
        'second:handler',
        'second:commit',
      ]);
      for (const s of seen) expect(s).toMatchObject({ traceId, runId: run.id });
      expect((await client.get(run.id)).traceId).toBe(traceId);
      // Two runs, two traces: nothing leaks between them.
      const other = await client.start('traced', null, { queue, traceId: 'another-trace' });
      await expect(client.result(other.id)).resolves.toBe('another-trace');
    });
  });
});
