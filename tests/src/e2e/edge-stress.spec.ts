import { BatonError, WorkflowFailedError } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';

/** `prefix`, then `unit` repeated, then 'x' padding: exactly `bytes` UTF-8 bytes. */
function nameOfBytes(bytes: number, prefix: string, unit: string): string {
  let name = prefix;
  while (Buffer.byteLength(name + unit) <= bytes) name += unit;
  name += 'x'.repeat(bytes - Buffer.byteLength(name));
  expect(Buffer.byteLength(name)).toBe(bytes);
  return name;
}

/** What the promise rejected with (an Error saying so if it resolved), read as the BatonError it should be. */
async function failure(promise: Promise<unknown>): Promise<BatonError> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`) as BatonError,
    (err: unknown) => err as BatonError,
  );
}

async function rowsFor(h: TestHarness, runId: string) {
  const count = async (table: string, column: string) =>
    (await h.query(`SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`, [runId]))[0]!.n as number;
  return {
    runs: await count('workflow_runs', 'id'),
    payloads: await count('workflow_payloads', 'run_id'),
    steps: await count('step_runs', 'run_id'),
  };
}

describe('11. Edge cases and stress', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Bursts on a busy machine: the product's default lease (30 s) rather than the harness's
    // short one, so a slow first heartbeat is not mistaken for a lost worker.
    h = await TestHarness.start({ leaseDurationSecs: 30 });
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('11.1 boundary conditions', () => {
    test('very_long_workflow_type_name_accepted', async () => {
      const suffix = h.unique('');
      const type = nameOfBytes(255, `type${suffix}-`, '🚀ü');
      const queue = nameOfBytes(255, `queue${suffix}.`, 'ß*>');
      const stepId = nameOfBytes(255, 'step-', '語');
      const namespace = nameOfBytes(255, `ns${suffix}-`, 'é');
      expect(type.length).toBeLessThan(255);

      const worker = h.worker({ namespace, queue });
      worker.register(type, async (ctx, input: { n: number }) => {
        const doubled = await ctx.step(stepId, () => input.n * 2);
        return { type: ctx.workflowType, queue: ctx.queue, namespace: ctx.namespace, doubled };
      });
      await worker.start();
      const client = h.client(namespace);
      const run = await client.start(type, { n: 21 }, { queue, externalId: nameOfBytes(255, 'ext-', '✓') });
      await expect(client.result(run.id)).resolves.toEqual({ type, queue, namespace, doubled: 42 });

      const stored = await client.get(run.id);
      expect(stored).toMatchObject({ workflowType: type, queue, namespace, status: 'COMPLETED' });
      expect((await client.steps(run.id)).map((s) => s.stepId)).toEqual([stepId]);
      expect((await client.list({ workflowType: type, queue })).runs.map((r) => r.id)).toEqual([run.id]);
      // Over HTTP too (the names travel in the path and the body).
      const http = await h
        .http()
        .post(`/v1/namespaces/${encodeURIComponent(namespace)}/workflows`)
        .send({ workflowType: type, queue, input: { n: 1 } });
      expect(http.status).toBe(201);
      await expect(client.result(http.body.run.id)).resolves.toMatchObject({ doubled: 2 });

      // One byte more is refused with the field and the limit, whatever the character count.
      const tooLongTypes = [nameOfBytes(256, 'type-', '🚀ü'), 'ü'.repeat(128), 'x'.repeat(256)];
      for (const tooLong of tooLongTypes) {
        const err = await failure(client.start(tooLong, null, { queue }));
        expect(err).toBeInstanceOf(BatonError);
        expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowType' });
        expect(err.message).toContain('255');
        const res = await h.http().post('/v1/namespaces/default/workflows').send({ workflowType: tooLong });
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'workflowType' });
      }
      await expect(client.start(type, null, { queue: nameOfBytes(256, 'q-', 'ß') })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'queue',
      });
      await expect(h.client(nameOfBytes(256, 'ns-', 'é')).start(type, null)).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'namespace',
      });
      // Registering a worker for such a type is refused too.
      const tooLongWorker = h.worker({ queue: h.unique() });
      tooLongWorker.register(tooLongTypes[0]!, async () => null);
      await expect(tooLongWorker.start()).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'workflowTypes[0]',
      });
      // A step id past the limit fails the run with a clear error, not a database error.
      const stepQueue = h.unique();
      const stepWorker = h.worker({ queue: stepQueue });
      stepWorker.register('long-step', async (ctx) => ctx.step(nameOfBytes(256, 'step-', '語'), () => 1));
      await stepWorker.start();
      const defaultClient = h.client();
      const longStep = await defaultClient.start('long-step', null, { queue: stepQueue, retry: { maxAttempts: 1 } });
      const stepErr = await failure(defaultClient.result(longStep.id));
      expect(stepErr).toBeInstanceOf(WorkflowFailedError);
      expect(stepErr.message).toMatch(/stepId.*255/);

      const [{ n }] =
        (await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE octet_length(workflow_type) > 255
        OR octet_length(task_queue) > 255 OR octet_length(namespace) > 255`)) as [{ n: number }];
      expect(n).toBe(0);
    });

    test('special_characters_in_external_id', async () => {
      // Queue names with NATS wildcard characters too: subjects must be encoded, not raw.
      const queue = `${h.unique()}.orders.*.>`;
      const client = h.client();
      const ids = [
        `it's "quoted"`,
        'a/b/c/../d',
        'with space',
        '  padded  ',
        'emoji 🚀✨ 👩‍👩‍👧',
        "'; DROP TABLE workflow_runs; --",
        'robert"); DELETE FROM workflow_payloads; --',
        'orders.*.>',
        '*',
        '>',
        '%',
        '_',
        'back\\slash\\',
        'tab\tnew\nline',
        '{"json":true}',
        'null',
        nameOfBytes(255, 'long-', '👍'),
      ];
      const first = new Map<string, string>();
      for (const externalId of ids) {
        const run = await client.start('keyed', { externalId }, { queue, externalId });
        expect({ externalId, alreadyExists: run.alreadyExists }).toEqual({ externalId, alreadyExists: false });
        first.set(externalId, run.id);
      }
      // All distinct runs: no two keys collapsed (e.g. '%' or '_' as patterns, or trimming).
      expect(new Set(first.values()).size).toBe(ids.length);
      for (const externalId of ids) {
        const again = await client.start('keyed', { externalId, again: true }, { queue, externalId });
        expect({ externalId, alreadyExists: again.alreadyExists, id: again.id }).toEqual({
          externalId,
          alreadyExists: true,
          id: first.get(externalId),
        });
        expect(again.run.input).toEqual({ externalId });
        const stored = await client.get(first.get(externalId)!);
        expect(stored.externalId).toBe(externalId);
        // The same key over HTTP returns the same run.
        const http = await h
          .http()
          .post('/v1/namespaces/default/workflows')
          .send({ workflowType: 'keyed', queue, externalId });
        expect(http.status).toBe(201);
        expect(http.body).toMatchObject({ alreadyExists: true, run: { id: first.get(externalId), externalId } });
      }
      expect((await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE task_queue = $1`, [queue]))[0]!.n).toBe(
        ids.length,
      );

      // A worker on the wildcard-looking queue runs exactly these; one on a queue its name
      // would match as a NATS pattern receives nothing.
      const executed: string[] = [];
      const worker = h.worker({ queue });
      worker.register('keyed', async (ctx, input: { externalId: string }) => {
        executed.push(ctx.runId);
        return input.externalId;
      });
      await worker.start();
      const lookalike = queue.replace('.*.>', '.x.y');
      const bystanderRuns: string[] = [];
      const bystander = h.worker({ queue: lookalike });
      bystander.register('keyed', async (ctx) => {
        bystanderRuns.push(ctx.runId);
        return null;
      });
      await bystander.start();
      for (const externalId of ids) await expect(client.result(first.get(externalId)!)).resolves.toBe(externalId);
      expect(executed.sort()).toEqual([...first.values()].sort());
      expect(bystanderRuns).toEqual([]);

      // Once terminal, each key may start a new run.
      for (const externalId of ids) {
        const next = await client.start('keyed', { externalId }, { queue, externalId });
        expect(next.alreadyExists).toBe(false);
        expect(next.id).not.toBe(first.get(externalId));
        await expect(client.result(next.id)).resolves.toBe(externalId);
      }
      // A NUL character or more than 255 bytes is refused, never stored.
      await expect(client.start('keyed', null, { queue, externalId: 'nul\u0000byte' })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'externalId',
      });
      await expect(
        client.start('keyed', null, { queue, externalId: nameOfBytes(256, 'long-', '👍') }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'externalId',
      });
      // The tables are intact.
      expect((await h.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE task_queue = $1`, [queue]))[0]!.n).toBe(
        2 * ids.length,
      );
    });
  });

  describe('11.2 stress and load', () => {
    test('1000_workflows_created_rapidly', async () => {
      const queue = h.unique();
      const client = h.client();
      const total = 1000;
      const chunk = 100;
      const ids: string[] = [];
      for (let i = 0; i < total; i += chunk) {
        const started = await Promise.all(
          Array.from({ length: chunk }, (_, j) => client.start('burst', { n: i + j }, { queue })),
        );
        ids.push(...started.map((r) => r.id));
      }
      expect(ids).toHaveLength(total);
      expect(new Set(ids).size).toBe(total);
      const [{ n, inputs }] = (await h.query(
        `SELECT count(*)::int AS n, count(DISTINCT (convert_from(p.input, 'UTF8')::jsonb ->> 'n'))::int AS inputs
         FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id WHERE r.task_queue = $1 AND r.status = 'PENDING'`,
        [queue],
      )) as [{ n: number; inputs: number }];
      expect({ n, inputs }).toEqual({ n: total, inputs: total });

      const executions = new Map<string, number>();
      const sum = { value: 0 };
      for (let w = 0; w < 2; w++) {
        const worker = h.worker({ queue, maxConcurrent: 50 });
        worker.register('burst', async (ctx, input: { n: number }) => {
          executions.set(ctx.runId, (executions.get(ctx.runId) ?? 0) + 1);
          sum.value += input.n;
          return input.n;
        });
        await worker.start();
      }
      await waitFor(
        async () => {
          const [row] = await h.query(
            `SELECT count(*)::int AS n FROM workflow_runs WHERE task_queue = $1 AND status = 'COMPLETED'`,
            [queue],
          );
          return row!.n === total;
        },
        `${total} runs to complete`,
        { timeoutMs: 150_000, intervalMs: 250 },
      );
      expect(executions.size).toBe(total);
      // Executed once each: a second execution is only legitimate after a lost lease, which shows as attempt > 1.
      const again = [...executions].filter(([, count]) => count > 1).map(([id]) => id);
      const recovered = await h.query(`SELECT id FROM workflow_runs WHERE id = ANY($1::uuid[]) AND attempt > 1`, [
        again,
      ]);
      expect(recovered.map((r) => r.id).sort()).toEqual(again.sort());
      if (again.length === 0) expect(sum.value).toBe((total * (total - 1)) / 2);
    }, 240_000);

    test('workflow_with_rapid_step_succession', async () => {
      const queue = h.unique();
      const bodies: number[] = [];
      const worker = h.worker({ queue });
      worker.register('rapid', async (ctx, n: number) => {
        let total = 0;
        for (let i = 0; i < n; i++) {
          total += await ctx.step(`step-${i}`, () => {
            bodies.push(i);
            return i;
          });
        }
        // A burst of steps in flight at once is recorded at the positions they were called in.
        const parallel = await Promise.all(
          Array.from({ length: 10 }, (_, j) => ctx.step(`fan-${j}`, async () => `f${j}`)),
        );
        return { total, parallel };
      });
      await worker.start();
      const client = h.client();
      const n = 200;
      const run = await client.start('rapid', n, { queue });
      const result = await client.result(run.id, { timeout: '150s' });
      expect(result).toEqual({ total: (n * (n - 1)) / 2, parallel: Array.from({ length: 10 }, (_, j) => `f${j}`) });
      // Each body ran once, in order.
      expect(bodies).toEqual(Array.from({ length: n }, (_, i) => i));

      const rows = await h.query(
        `SELECT step_id, seq, status, attempt, convert_from(output, 'UTF8') AS output, started_at, finished_at
         FROM step_runs WHERE run_id = $1 ORDER BY seq`,
        [run.id],
      );
      expect(rows).toHaveLength(n + 10);
      rows.slice(0, n).forEach((row, i) => {
        expect(row).toMatchObject({ step_id: `step-${i}`, seq: i, status: 'COMPLETED', attempt: 1, output: String(i) });
        if (i > 0) expect(row.finished_at.getTime()).toBeGreaterThanOrEqual(rows[i - 1]!.finished_at.getTime());
      });
      rows
        .slice(n)
        .forEach((row, j) => expect(row).toMatchObject({ step_id: `fan-${j}`, seq: n + j, status: 'COMPLETED' }));
      const steps = await client.steps(run.id);
      expect(steps.map((s) => s.stepId)).toEqual(rows.map((r) => r.step_id));
      // No replay was needed.
      expect((await client.get(run.id)).claims).toBe(1);
    }, 180_000);
  });

  describe('11.3 database consistency', () => {
    test('no_orphaned_payloads_after_workflow_delete', async () => {
      const queue = h.unique();
      const holding = deferred<void>();
      const held = deferred<void>();
      const worker = h.worker({ queue });
      worker.register('full', async (ctx, input: { order: string }) => {
        await ctx.step('a', () => ({ reserved: input.order }));
        await ctx.sleep('breath', 20);
        await ctx.step('b', () => 'charged');
        return { shipped: input.order };
      });
      worker.register('fails', async (ctx) => {
        await ctx.step('a', () => 'partial');
        throw new Error('gave up');
      });
      worker.register('napper', async (ctx) => {
        await ctx.step('a', () => 1);
        await ctx.sleep('long', '1h');
      });
      worker.register('holder', async (ctx) => {
        await ctx.step('a', () => 1);
        held.resolve();
        await holding.promise;
      });
      await worker.start();
      const client = h.client();

      const done = await client.start('full', { order: 'o-1' }, { queue });
      const neighbour = await client.start('full', { order: 'o-2' }, { queue });
      const failed = await client.start('fails', { x: 1 }, { queue, retry: { maxAttempts: 1 } });
      await client.result(done.id);
      await client.result(neighbour.id);
      await expect(client.result(failed.id)).rejects.toBeInstanceOf(WorkflowFailedError);
      const sleeping = await client.start('napper', null, { queue });
      const running = await client.start('holder', null, { queue });
      const pending = await client.start('full', { order: 'never' }, { queue: h.unique() });
      await held.promise;
      await waitFor(async () => (await client.get(sleeping.id)).status === 'SLEEPING', 'the sleeper');
      const cancelled = await client.start('napper', null, { queue });
      await waitFor(async () => (await client.get(cancelled.id)).status === 'SLEEPING', 'the second sleeper');
      await client.cancel(cancelled.id);

      expect(await rowsFor(h, done.id)).toEqual({ runs: 1, payloads: 1, steps: 3 });

      // Live runs are refused, and keep everything.
      for (const live of [pending, sleeping, running]) {
        const before = await rowsFor(h, live.id);
        const err = await failure(client.delete(live.id));
        expect(err).toBeInstanceOf(BatonError);
        expect(err.code).toBe('FAILED_PRECONDITION');
        const res = await h.http().delete(`/v1/namespaces/default/workflows/${live.id}`);
        expect(res.status).toBe(409);
        expect(await rowsFor(h, live.id)).toEqual(before);
      }

      // Finished runs go with their payloads and steps: completed and cancelled over gRPC, failed over HTTP.
      await client.delete(done.id);
      await client.delete(cancelled.id);
      await h.http().delete(`/v1/namespaces/default/workflows/${failed.id}`).expect(204);
      for (const id of [done.id, cancelled.id, failed.id]) {
        expect(await rowsFor(h, id)).toEqual({ runs: 0, payloads: 0, steps: 0 });
        await expect(client.get(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await expect(client.steps(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await expect(client.delete(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
      // Nothing else was touched.
      expect(await rowsFor(h, neighbour.id)).toEqual({ runs: 1, payloads: 1, steps: 3 });
      expect((await client.get(neighbour.id)).output).toEqual({ shipped: 'o-2' });
      // And nowhere in the database is a payload or step left without its run.
      const [orphans] = await h.query(
        `SELECT (SELECT count(*) FROM workflow_payloads p WHERE NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = p.run_id))::int AS payloads,
                (SELECT count(*) FROM step_runs s WHERE NOT EXISTS (SELECT 1 FROM workflow_runs r WHERE r.id = s.run_id))::int AS steps`,
      );
      expect(orphans).toEqual({ payloads: 0, steps: 0 });

      // Once the held run finishes it can be deleted as well.
      holding.resolve();
      await client.result(running.id);
      await client.delete(running.id);
      expect(await rowsFor(h, running.id)).toEqual({ runs: 0, payloads: 0, steps: 0 });
      await client.cancel(sleeping.id);
      await client.cancel(pending.id);
    });
  });
});
