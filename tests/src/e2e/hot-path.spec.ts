import { randomUUID } from 'node:crypto';
import { BatonError } from '@baton/sdk';
import { Transport } from '@baton/sdk';
import { ExecutionRepository, RunsRepository, Sql, createDataSource } from '@baton/persistence';
import type { CreateRunCommand, Lease } from '@baton/persistence';
import type { Payload } from '@baton/contracts';
import { TestHarness } from '../index';
import { trueQueueCounts } from '../harness/assertions';
import { RawWorker } from '../harness/protocol';
import type { RawTask } from '../harness/protocol';
import { deferred, waitFor } from '../harness/wait';

/**
 * The hot path's levers keep every guarantee: the last step's record travels
 * with CompleteWorkflow (one call, one commit), steps whose record waited are
 * never lost or rerun, and the field rules are the same as CompleteStep's.
 */
describe('hot path', () => {
  let h: TestHarness;
  const rawWorkers: RawWorker[] = [];

  beforeAll(async () => {
    // No periodic heartbeat within a test: whatever acknowledges a delivery is the early one.
    h = await TestHarness.start({ heartbeatIntervalSecs: 60, workerStaleThresholdSecs: 120, leaseDurationSecs: 120 });
  });

  afterAll(async () => {
    await Promise.allSettled(rawWorkers.map((w) => w.stop()));
    await h?.stop();
  });

  /** Transaction ids that wrote a run's row and its steps' rows (equal ids: one commit). */
  async function writers(runId: string) {
    const [run] = await h.query(`SELECT xmin::text AS xid, status FROM workflow_runs WHERE id = $1`, [runId]);
    const steps = await h.query(
      `SELECT step_id, status, convert_from(output, 'UTF8') AS output, xmin::text AS xid FROM step_runs WHERE run_id = $1 ORDER BY seq`,
      [runId],
    );
    return { run: run!, steps };
  }

  test('the last step is recorded in the same commit that completes the run', async () => {
    const queue = h.unique('fold');
    const worker = h.worker({ queue });
    worker.register('three', async (ctx, n: number) => {
      const a = await ctx.step('a', () => n + 1);
      const b = await ctx.step('b', () => a + 1);
      return ctx.step('c', () => b + 1);
    });
    await worker.start();
    try {
      const run = await h.client().start('three', 1, { queue });
      expect(await h.client().result(run.id)).toBe(4);
      const { run: row, steps } = await writers(run.id);
      expect(row.status).toBe('COMPLETED');
      expect(steps.map((s) => [s.step_id, s.status, s.output])).toEqual([
        ['a', 'COMPLETED', '2'],
        ['b', 'COMPLETED', '3'],
        ['c', 'COMPLETED', '4'],
      ]);
      // The last step and the run's completion: one transaction. Earlier steps: their own.
      expect(steps[2]!.xid).toBe(row.xid);
      expect(steps[0]!.xid).not.toBe(row.xid);
      expect(steps[1]!.xid).not.toBe(row.xid);
    } finally {
      await worker.stop();
    }
  });

  test('a step completed before the workflow fails is recorded, and the retry replays it', async () => {
    const queue = h.unique('fail-after');
    const worker = h.worker({ queue });
    let charges = 0;
    worker.register('charge-then-fail', async (ctx) => {
      const receipt = await ctx.step('charge', () => ++charges);
      if (ctx.attempt === 1) throw new Error('shipping service down');
      return receipt;
    });
    await worker.start();
    try {
      const run = await h.client().start('charge-then-fail', null, {
        queue,
        retry: { maxAttempts: 2, initialInterval: 10 },
      });
      expect(await h.client().result(run.id)).toBe(1);
      expect(charges).toBe(1);
      const steps = await h.client().steps(run.id);
      expect(steps.map((s) => [s.stepId, s.status])).toEqual([['charge', 'COMPLETED']]);
    } finally {
      await worker.stop();
    }
  });

  test('a step whose workflow then waits on other work is recorded without waiting for it', async () => {
    const queue = h.unique('io-after');
    const worker = h.worker({ queue });
    const gate = deferred();
    worker.register('step-then-io', async (ctx) => {
      await ctx.step('first', () => 'done');
      await gate.promise; // I/O outside any step
      return 'ok';
    });
    await worker.start();
    try {
      const run = await h.client().start('step-then-io', null, { queue });
      // Recorded while the handler still waits: a crash now would not run the step again.
      await waitFor(
        async () => (await writers(run.id)).steps.some((s) => s.step_id === 'first' && s.status === 'COMPLETED'),
        'the first step recorded while the workflow waits',
      );
      expect((await writers(run.id)).run.status).toBe('RUNNING');
      gate.resolve();
      expect(await h.client().result(run.id)).toBe('ok');
    } finally {
      gate.resolve();
      await worker.stop();
    }
  });

  test('a run still held after the acknowledgement delay is acknowledged without the periodic heartbeat', async () => {
    const queue = h.unique('ack');
    const worker = h.worker({ queue });
    const gate = deferred();
    worker.register('slow', async () => {
      await gate.promise;
      return 'ok';
    });
    await worker.start();
    try {
      const run = await h.client().start('slow', null, { queue });
      await waitFor(
        async () =>
          (await h.query(`SELECT delivered FROM workflow_runs WHERE id = $1`, [run.id]))[0]?.delivered === true,
        'the held run acknowledged',
      );
      gate.resolve();
      expect(await h.client().result(run.id)).toBe('ok');
    } finally {
      gate.resolve();
      await worker.stop();
    }
  });

  describe('CompleteWorkflow and Sleep with lastStep', () => {
    async function claimed(type: string) {
      const queue = h.unique('raw');
      const worker = await RawWorker.register(h, { queue, workflowTypes: [type] });
      rawWorkers.push(worker);
      const run = await h.client().start(type, null, { queue });
      const task = await worker.nextTask();
      return { worker, task, runId: run.id };
    }

    test('over HTTP: records the step and completes the run; a repeat finds the run finished', async () => {
      const { worker, task, runId } = await claimed('http-last');
      const res = await worker.completeWorkflow(task, 'out', { lastStep: { stepId: 'only', seq: 0, output: 7 } });
      expect(res.status).toBe(200);
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('COMPLETED');
      expect(steps.map((s) => [s.step_id, s.status, s.output, s.xid])).toEqual([['only', 'COMPLETED', '7', run.xid]]);
      const repeat = await worker.completeWorkflow(task, 'out', { lastStep: { stepId: 'only', seq: 0, output: 7 } });
      expect(repeat.status).toBe(409);
      expect(repeat.body.error.reason).toBe('RUN_TERMINAL');
    });

    test('a last step at a position another step holds is refused and changes nothing', async () => {
      const { worker, task, runId } = await claimed('conflict-last');
      expect((await worker.complete(task, 'first', 0, 1)).status).toBe(200);
      const res = await worker.completeWorkflow(task, 'out', { lastStep: { stepId: 'other', seq: 0, output: 2 } });
      expect(res.status).toBe(409);
      expect(res.body.error.reason).toBe('NON_DETERMINISTIC');
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('RUNNING');
      expect(steps.map((s) => [s.step_id, s.output])).toEqual([['first', '1']]);
    });

    test('bad lastStep fields are refused with the same field over HTTP and gRPC, before anything is stored', async () => {
      const { worker, task, runId } = await claimed('bad-last');
      const transport = new Transport(h.grpcAddress);
      const lease = {
        namespace: 'default',
        runId,
        workerId: worker.id,
        leaseEpoch: task.leaseEpoch,
        leaseToken: task.leaseToken,
      };
      const cases: Array<[{ stepId: string; seq: number }, string]> = [
        [{ stepId: '', seq: 0 }, 'lastStep.stepId'],
        [{ stepId: 'x'.repeat(256), seq: 0 }, 'lastStep.stepId'],
        [{ stepId: 'ok', seq: -1 }, 'lastStep.seq'],
      ];
      try {
        for (const [lastStep, field] of cases) {
          const http = await worker.completeWorkflow(task, 'out', { lastStep });
          expect([http.status, http.body.error.code, http.body.error.field]).toEqual([400, 'INVALID_ARGUMENT', field]);
          const grpc = await transport.call('worker', 'CompleteWorkflow', { lease, output: undefined, lastStep }).then(
            () => null,
            (err: unknown) => err,
          );
          expect(grpc).toBeInstanceOf(BatonError);
          expect([(grpc as BatonError).code, (grpc as BatonError).field]).toEqual(['INVALID_ARGUMENT', field]);
        }
        const http = await worker.completeWorkflow(task, 'out', { lastStep: 'not an object' });
        expect([http.status, http.body.error.field]).toEqual([400, 'lastStep']);
        const tooBig = await worker.completeWorkflow(task, 'out', {
          lastStep: {
            stepId: 'big',
            seq: 0,
            outputBase64: Buffer.alloc(h.config.payloadLimitBytes + 1).toString('base64'),
          },
        });
        expect([tooBig.status, tooBig.body.error.field]).toEqual([413, 'lastStep.output']);
      } finally {
        transport.close();
      }
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('RUNNING');
      expect(steps).toEqual([]);
    });

    /** Sleep over HTTP under `task`'s lease. */
    function sleepOverHttp(worker: RawWorker, task: RawTask, body: object) {
      return h
        .http()
        .post(`/v1/namespaces/default/workflows/${task.runId}/sleep`)
        .send({ workerId: worker.id, leaseEpoch: task.leaseEpoch, leaseToken: task.leaseToken, ...body });
    }

    test("through the SDK: the step just before a sleep is recorded in the sleep's commit", async () => {
      const queue = h.unique('sleep-fold');
      const worker = h.worker({ queue });
      worker.register('nap', async (ctx) => {
        const t0 = await ctx.step('t0', () => 41);
        await ctx.sleep('nap', '1h');
        return t0;
      });
      await worker.start();
      try {
        const run = await h.client().start('nap', null, { queue });
        await waitFor(async () => (await writers(run.id)).run.status === 'SLEEPING', 'the run asleep');
        const { run: row, steps } = await writers(run.id);
        expect(steps.map((s) => [s.step_id, s.status, s.output])).toEqual([
          ['t0', 'COMPLETED', '41'],
          ['nap', 'RUNNING', null],
        ]);
        expect(steps.map((s) => s.xid)).toEqual([row.xid, row.xid]);
        await h.client().cancel(run.id);
      } finally {
        await worker.stop();
      }
    });

    test('over HTTP: a sleep records its lastStep; a zero sleep records only the step; bad fields store nothing', async () => {
      const { worker, task, runId } = await claimed('http-sleep-last');
      const bad = await sleepOverHttp(worker, task, {
        stepId: 'nap',
        seq: 1,
        durationMs: 60_000,
        lastStep: { stepId: '', seq: 0, output: 1 },
      });
      expect([bad.status, bad.body.error.field]).toEqual([400, 'lastStep.stepId']);
      expect((await writers(runId)).steps).toEqual([]);

      const zero = await sleepOverHttp(worker, task, {
        stepId: 'none',
        seq: 1,
        durationMs: 0,
        lastStep: { stepId: 'a', seq: 0, output: 1 },
      });
      expect([zero.status, zero.body.suspended]).toEqual([200, false]);
      expect((await writers(runId)).steps.map((s) => [s.step_id, s.status])).toEqual([['a', 'COMPLETED']]);

      const nap = await sleepOverHttp(worker, task, {
        stepId: 'nap',
        seq: 2,
        durationMs: 60_000,
        lastStep: { stepId: 'b', seq: 1, output: 2 },
      });
      expect([nap.status, nap.body.suspended]).toEqual([200, true]);
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('SLEEPING');
      expect(steps.map((s) => [s.step_id, s.status, s.output])).toEqual([
        ['a', 'COMPLETED', '1'],
        ['b', 'COMPLETED', '2'],
        ['nap', 'RUNNING', null],
      ]);
      expect(steps[1]!.xid).toBe(run.xid);
      worker.release(task);
      await h.client().cancel(runId);
    });
  });

  /**
   * Group commit: starts and completions submitted in one turn, or while one
   * statement of their kind is in flight, share one statement. Submitted from
   * this process in one tick through the repositories, they go together: one
   * commit, for certain.
   */
  describe('group commit', () => {
    let dataSource: ReturnType<typeof createDataSource>;
    let sql: Sql;

    beforeAll(async () => {
      dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 2, applicationName: 'group-commit-test' });
      await dataSource.initialize();
      sql = new Sql(dataSource);
    });

    afterAll(() => dataSource?.destroy());

    const json = (value: unknown): Payload => ({ data: Buffer.from(JSON.stringify(value)), encoding: 'json' });

    /** The distinct transactions that wrote the given runs' rows. */
    /** Eight runs on a fresh queue, each claimed by one hand-driven worker. */
    async function eightClaimed(prefix: string) {
      const queue = h.unique(prefix);
      const worker = await RawWorker.register(h, { queue, workflowTypes: ['gc'] });
      rawWorkers.push(worker);
      const client = h.client();
      await Promise.all(Array.from({ length: 8 }, (_, i) => client.start('gc', i, { queue })));
      const tasks: RawTask[] = [];
      for (let i = 0; i < 8; i++) tasks.push(await worker.nextTask());
      return { queue, worker, tasks };
    }

    async function commitsOf(runIds: string[]): Promise<string[]> {
      const rows = await h.query<{ xid: string }>(
        `SELECT DISTINCT xmin::text AS xid FROM workflow_runs WHERE id = ANY($1::uuid[])`,
        [runIds],
      );
      return rows.map((r) => r.xid);
    }

    async function expectCounters(queue: string, expected: { pending: number; running: number; sleeping: number }) {
      expect(await trueQueueCounts(h, queue)).toEqual(expected);
      await waitFor(
        async () => {
          const stats = await h.client().queueStats(queue);
          return stats.pending === expected.pending && stats.running === expected.running && stats.sleeping === 0;
        },
        `queue stats of ${queue} to read ${JSON.stringify(expected)}`,
      );
    }

    test('starts submitted together share one commit, and each gets the answer it would get alone', async () => {
      const queue = h.unique('gc-start');
      const heldKey = h.unique('held-key');
      const dupKey = h.unique('dup-key');
      const held = await h.client().start('gc', 'held', { queue, externalId: heldKey });
      const runs = new RunsRepository(sql);
      const keyOf = (i: number) =>
        i === 10 ? heldKey : [5, 17, 30].includes(i) ? dupKey : i % 2 === 0 ? null : `${queue}-${i}`;
      const cmd = (i: number): CreateRunCommand => ({
        namespace: 'default',
        queue,
        workflowType: 'gc',
        input: json(i),
        externalId: keyOf(i),
        retryPolicy: i % 3 === 0 ? { maxAttempts: 2 } : null,
        timeoutMs: i % 4 === 0 ? 3_600_000 : null,
        correlationId: `corr-${i}`,
        traceId: null,
      });
      const outcomes = await Promise.all(Array.from({ length: 40 }, (_, i) => runs.create(cmd(i))));

      // Each caller got its own run, input and options; the key a live run holds, and the
      // duplicates of one key in the batch, got that run back, as concurrent single starts do.
      outcomes.forEach(({ run, created }, i) => {
        if (i === 10) return expect([run.id, created]).toEqual([held.id, false]);
        if (i === 17 || i === 30) return expect([run.id, created]).toEqual([outcomes[5]!.run.id, false]);
        expect(created).toBe(true);
        expect(JSON.parse(run.input!.data.toString())).toBe(i);
        expect([run.externalId, run.correlationId, run.status]).toEqual([keyOf(i), `corr-${i}`, 'PENDING']);
        expect(run.retryPolicy?.maxAttempts ?? null).toBe(i % 3 === 0 ? 2 : null);
        expect(run.deadlineAt !== null).toBe(i % 4 === 0);
      });
      const created = outcomes.filter((o) => o.created).map((o) => o.run.id);
      expect(new Set(created).size).toBe(37);
      const stored = await h.query(
        `SELECT id, convert_from(p.input, 'UTF8') AS input FROM workflow_payloads p
        JOIN workflow_runs r ON r.id = p.run_id WHERE r.task_queue = $1`,
        [queue],
      );
      expect(stored).toHaveLength(38);

      // Submitted in one turn: all 37 created by one statement, in one commit.
      expect(await commitsOf(created)).toHaveLength(1);
      await expectCounters(queue, { pending: 38, running: 0, sleeping: 0 });
    });

    test('completions submitted together share one commit; the others get the answer they get alone', async () => {
      const { queue, worker, tasks } = await eightClaimed('gc-complete');
      // Position 0 of the seventh run already holds another step.
      expect((await worker.complete(tasks[6]!, 'first', 0, 'one')).status).toBe(200);

      const execution = new ExecutionRepository(sql);
      const lease = (t: RawTask, leaseToken = t.leaseToken): Lease => ({
        namespace: 'default',
        runId: t.runId,
        workerId: worker.id,
        leaseEpoch: t.leaseEpoch,
        leaseToken,
      });
      const complete = (t: RawTask, withStep: boolean, l = lease(t), stepId = 'last') =>
        execution.completeRun(
          l,
          json(`out ${t.runId}`),
          withStep ? { stepId, seq: 0, output: json(`step ${t.runId}`) } : null,
        );
      const outcomes = await Promise.allSettled([
        complete(tasks[0]!, true),
        complete(tasks[1]!, true),
        complete(tasks[2]!, true),
        complete(tasks[3]!, true),
        complete(tasks[4]!, true),
        complete(tasks[5]!, false),
        complete(tasks[6]!, true, lease(tasks[6]!), 'other'), // code changed: position 0 holds "first"
        complete(tasks[7]!, false, lease(tasks[7]!, randomUUID())), // not its lease
        complete(tasks[1]!, true), // the same completion twice in one batch
      ]);
      const answers = outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : (o.reason as BatonError).reason));
      expect(answers).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'NON_DETERMINISTIC', 'LEASE_LOST', 'RUN_TERMINAL']);
      for (const t of tasks.slice(0, 6)) worker.release(t);

      const rows = await h.query(
        `SELECT r.id, r.status, r.xmin::text AS xid, r.locked_by, convert_from(p.output, 'UTF8') AS output,
                s.step_id, s.xmin::text AS step_xid, convert_from(s.output, 'UTF8') AS step_output
         FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id
         LEFT JOIN step_runs s ON s.run_id = r.id
         WHERE r.task_queue = $1`,
        [queue],
      );
      const byRun = (t: RawTask) => rows.find((r) => r.id === t.runId)!;
      for (const [i, t] of tasks.slice(0, 6).entries()) {
        const row = byRun(t);
        expect([row.status, row.locked_by, row.output]).toEqual(['COMPLETED', null, JSON.stringify(`out ${t.runId}`)]);
        if (i < 5)
          expect([row.step_id, row.step_output, row.step_xid]).toEqual([
            'last',
            JSON.stringify(`step ${t.runId}`),
            row.xid,
          ]);
        else expect(row.step_id).toBeNull();
      }
      // Submitted in one turn: the six (five with their last step) in one commit.
      const batched = tasks.slice(0, 6).map((t) => byRun(t).xid);
      expect(new Set(batched).size).toBe(1);
      // The refused ones changed nothing.
      expect([byRun(tasks[6]!).status, byRun(tasks[6]!).step_id, byRun(tasks[6]!).output]).toEqual([
        'RUNNING',
        'first',
        null,
      ]);
      expect([byRun(tasks[7]!).status, byRun(tasks[7]!).step_id]).toEqual(['RUNNING', null]);
      await expectCounters(queue, { pending: 0, running: 2, sleeping: 0 });
    });

    test('a lone completion returns the run whole, exactly as a read answers after its commit (what WaitResult answers)', async () => {
      const { worker, tasks } = await eightClaimed('lone-complete');
      const execution = new ExecutionRepository(sql);
      const runs = new RunsRepository(sql);
      const lease = (t: RawTask): Lease => ({
        namespace: 'default',
        runId: t.runId,
        workerId: worker.id,
        leaseEpoch: t.leaseEpoch,
        leaseToken: t.leaseToken,
      });
      // One with its last step (COMPLETE_RUN_WITH_STEP), one without (COMPLETE_RUN), one without output; one at a time.
      const completions: Array<[RawTask, Payload | null, boolean]> = [
        [tasks[0]!, json({ out: 1 }), true],
        [tasks[1]!, json('two'), false],
        [tasks[2]!, null, false],
      ];
      for (const [task, output, withStep] of completions) {
        const finished = await execution.completeRun(
          lease(task),
          output,
          withStep ? { stepId: 'last', seq: 0, output: json('step') } : null,
        );
        worker.release(task);
        expect(finished.run).toBeDefined();
        expect(finished.run!.status).toBe('COMPLETED');
        expect(finished.run).toEqual(await runs.get('default', task.runId));
      }
    });

    test('a burst through the API: every run once, one run per external id, every result and count exact', async () => {
      const queue = h.unique('gc-burst');
      const key = h.unique('burst-key');
      const client = h.client();
      const started = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          client.start('burst', i, { queue, ...(i % 5 === 0 ? { externalId: key } : {}) }),
        ),
      );
      const keyed = started.filter((_, i) => i % 5 === 0);
      expect(new Set(keyed.map((r) => r.id)).size).toBe(1);
      expect(keyed.filter((r) => !r.alreadyExists)).toHaveLength(1);
      expect(started.filter((r) => !r.alreadyExists)).toHaveLength(41);
      await expectCounters(queue, { pending: 41, running: 0, sleeping: 0 });

      const worker = h.worker({ queue, maxConcurrent: 50 });
      worker.register('burst', async (ctx, n: number) => ctx.step('double', () => n * 2));
      await worker.start();
      try {
        const ids = [...new Set(started.map((r) => r.id))];
        const results = await Promise.all(ids.map((id) => client.result(id)));
        const inputs = await Promise.all(ids.map(async (id) => (await client.get<number>(id)).input));
        expect(results).toEqual(inputs.map((n) => n * 2));
        // Every run's step was recorded in the commit that completed it.
        const rows = await h.query(
          `SELECT r.xmin::text AS xid, s.xmin::text AS step_xid FROM workflow_runs r
           JOIN step_runs s ON s.run_id = r.id WHERE r.task_queue = $1`,
          [queue],
        );
        expect(rows).toHaveLength(41);
        expect(rows.filter((r) => r.xid !== r.step_xid)).toEqual([]);
        await expectCounters(queue, { pending: 0, running: 0, sleeping: 0 });
      } finally {
        await worker.stop();
      }
    });

    /**
     * CompleteStep across runs: the same group commit. Submitted in one tick,
     * they share one statement; those it did not record get the answer
     * completeStep gives alone.
     */
    describe('CompleteStep', () => {
      const stepsOf = (runIds: string[]) =>
        h.query(
          `SELECT run_id, step_id, seq, status, attempt, final, convert_from(output, 'UTF8') AS output,
                  xmin::text AS xid
           FROM step_runs WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, seq, step_id`,
          [runIds],
        );

      test('step completions submitted together share one commit; the others get the answer they get alone', async () => {
        const { queue, worker, tasks } = await eightClaimed('gc-step');
        // The third run has begun "a"; the sixth has "first" completed at position 0; the seventh
        // has "doomed" failed for good there.
        expect((await worker.begin(tasks[2]!, 'a', 0)).status).toBe(200);
        expect((await worker.complete(tasks[5]!, 'first', 0, 'one')).status).toBe(200);
        expect((await worker.fail(tasks[6]!, 'doomed', 0, { message: 'boom', nonRetryable: true })).status).toBe(200);
        const untouched = tasks.slice(5).map((t) => t.runId);
        const before = await stepsOf(untouched);
        expect(before).toHaveLength(2);
        expect(before.find((s) => s.step_id === 'first')).toMatchObject({
          run_id: tasks[5]!.runId,
          status: 'COMPLETED',
        });
        expect(before.find((s) => s.step_id === 'doomed')).toMatchObject({
          run_id: tasks[6]!.runId,
          status: 'FAILED',
          final: true,
        });

        const execution = new ExecutionRepository(sql);
        const lease = (t: RawTask, leaseToken = t.leaseToken): Lease => ({
          namespace: 'default',
          runId: t.runId,
          workerId: worker.id,
          leaseEpoch: t.leaseEpoch,
          leaseToken,
        });
        const outputOf = (t: RawTask, stepId: string) => `${stepId} ${t.runId}`;
        const complete = (t: RawTask, stepId: string, seq: number, l = lease(t)) =>
          execution.completeStep(l, { stepId, seq, output: json(outputOf(t, stepId)) });
        const outcomes = await Promise.allSettled([
          complete(tasks[0]!, 'a', 0),
          complete(tasks[1]!, 'a', 0),
          complete(tasks[1]!, 'b', 1), // a second step of one run in the same batch
          complete(tasks[2]!, 'a', 0), // begun: RUNNING → COMPLETED
          complete(tasks[3]!, 'a', 0),
          complete(tasks[4]!, 'a', 0),
          complete(tasks[4]!, 'a', 0), // the same completion twice in one batch
          complete(tasks[3]!, 'x', 0), // code changed: position 0 goes to "a" in this batch
          complete(tasks[5]!, 'other', 0), // code changed: position 0 holds "first"
          complete(tasks[5]!, 'first', 0), // a repeat of a completed step: its attempt, output kept
          complete(tasks[6]!, 'doomed', 0), // failed for good
          complete(tasks[7]!, 'a', 0, lease(tasks[7]!, randomUUID())), // not its lease
        ]);
        const answers = outcomes.map((o) =>
          o.status === 'fulfilled' ? o.value.attempt : (o.reason as BatonError).reason,
        );
        expect(answers).toEqual([
          1,
          1,
          1,
          1,
          1,
          1,
          1,
          'NON_DETERMINISTIC',
          'NON_DETERMINISTIC',
          1,
          'STEP_ALREADY_FAILED',
          'LEASE_LOST',
        ]);

        const recorded = await stepsOf(tasks.slice(0, 5).map((t) => t.runId));
        const step = (t: RawTask, stepId: string) => recorded.find((s) => s.run_id === t.runId && s.step_id === stepId);
        const expected: Array<[RawTask, string]> = [
          [tasks[0]!, 'a'],
          [tasks[1]!, 'a'],
          [tasks[1]!, 'b'],
          [tasks[2]!, 'a'],
          [tasks[3]!, 'a'],
          [tasks[4]!, 'a'],
        ];
        expect(recorded).toHaveLength(expected.length); // no "x"
        for (const [t, stepId] of expected) {
          expect([step(t, stepId)?.status, step(t, stepId)?.attempt, step(t, stepId)?.output]).toEqual([
            'COMPLETED',
            1,
            JSON.stringify(outputOf(t, stepId)),
          ]);
        }
        // Submitted in one turn: the six steps (of five runs) in one commit.
        const batched = expected.map(([t, stepId]) => step(t, stepId)!.xid);
        expect(new Set(batched).size).toBe(1);
        // The refused ones changed nothing, and no run moved.
        expect(await stepsOf(untouched)).toEqual(before);
        const runs = await h.query(`SELECT status, lease_epoch FROM workflow_runs WHERE id = ANY($1::uuid[])`, [
          tasks.map((t) => t.runId),
        ]);
        expect(runs.filter((r) => r.status !== 'RUNNING')).toEqual([]);
        await expectCounters(queue, { pending: 0, running: 8, sleeping: 0 });
      });

      test('many runs of sequential steps through the SDK: each step body runs once, every result exact', async () => {
        const queue = h.unique('gc-steps');
        const worker = h.worker({ queue, maxConcurrent: 30 });
        const calls = new Map<string, number>();
        worker.register('chain', async (ctx, n: number) => {
          let value = n;
          for (let i = 0; i < 4; i++) {
            value = await ctx.step(`s${i}`, () => {
              calls.set(`${n}/${i}`, (calls.get(`${n}/${i}`) ?? 0) + 1);
              return value + 1;
            });
          }
          return value;
        });
        await worker.start();
        try {
          const client = h.client();
          const runs = await Promise.all(
            Array.from({ length: 30 }, (_, n) => client.start('chain', n * 10, { queue })),
          );
          const results = await Promise.all(runs.map((r) => client.result(r.id)));
          expect(results).toEqual(runs.map((_, n) => n * 10 + 4));
          expect(calls.size).toBe(120);
          expect([...calls.values()].filter((c) => c !== 1)).toEqual([]);
          const steps = await stepsOf(runs.map((r) => r.id));
          expect(steps).toHaveLength(120);
          for (const [n, run] of runs.entries()) {
            const own = steps.filter((s) => s.run_id === run.id);
            expect(own.map((s) => [s.step_id, s.seq, s.status, s.output])).toEqual(
              [0, 1, 2, 3].map((i) => [`s${i}`, i, 'COMPLETED', String(n * 10 + i + 1)]),
            );
          }
          await expectCounters(queue, { pending: 0, running: 0, sleeping: 0 });
        } finally {
          await worker.stop();
        }
      });
    });
  });
});
