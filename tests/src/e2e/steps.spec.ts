import { randomUUID } from 'node:crypto';
import { Transport, WorkflowFailedError } from '@baton/sdk';
import { TestHarness } from '../index';
import { RawWorker } from '../harness/protocol';
import type { RawTask } from '../harness/protocol';

/** A step retry policy that parks the run only briefly, so the replay follows at once. */
const QUICK_RETRY = { maxAttempts: 3, initialIntervalMs: 100 };

describe('3. Step execution & replay', () => {
  let h: TestHarness;
  const rawWorkers: RawWorker[] = [];

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await Promise.allSettled(rawWorkers.map((w) => w.stop()));
    await h?.stop();
  });

  /** A hand-driven worker on a fresh queue with one run of `type` started on it, claimed. */
  async function claimedRun(type: string, input: unknown = { n: 1 }) {
    const queue = h.unique();
    const worker = await RawWorker.register(h, { queue, workflowTypes: [type] });
    rawWorkers.push(worker);
    const run = await h.client().start(type, input, { queue });
    const task = await worker.nextTask();
    expect(task.runId).toBe(run.id);
    return { worker, task, runId: run.id, queue };
  }

  const stepRows = (runId: string) => h.query(`SELECT * FROM step_runs WHERE run_id = $1 ORDER BY seq`, [runId]);

  /** What a step record says (everything but its bookkeeping timestamp). */
  const stepState = async (runId: string) => (await stepRows(runId)).map(({ updated_at: _, ...rest }) => rest);

  const runRow = async (runId: string) => (await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [runId]))[0]!;

  /** Fails `stepId` retryably with a short backoff, then takes the replay task (a new lease). */
  async function parkAndReclaim(worker: RawWorker, task: RawTask, stepId: string, seq: number): Promise<RawTask> {
    const failed = await worker.fail(task, stepId, seq, { message: 'try again' }, QUICK_RETRY);
    expect(failed.body).toMatchObject({ willRetry: true });
    worker.release(task);
    const replay = await worker.nextTask();
    expect(replay.runId).toBe(task.runId);
    expect(replay.leaseEpoch).toBeGreaterThan(task.leaseEpoch);
    expect(replay.leaseToken).not.toBe(task.leaseToken);
    return replay;
  }

  describe('3.1 step lifecycle', () => {
    test('step_begin_creates_pending_record', async () => {
      const { worker, task, runId } = await claimedRun('begin-wf');

      // Over HTTP: the first BeginStep of a step says "execute" and records it as RUNNING
      // (the seed's "pending": in Baton's step state machine a begun step is RUNNING).
      const begun = await worker.begin(task, 'charge', 0);
      expect(begun.status).toBe(200);
      expect(begun.body).toEqual({ shouldExecute: true, attempt: 1 });
      let rows = await stepRows(runId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        step_id: 'charge',
        seq: 0,
        kind: 'FUNCTION',
        status: 'RUNNING',
        attempt: 1,
        output: null,
        error_message: null,
        final: false,
        finished_at: null,
      });

      // Over gRPC, as the SDK would: the next step gets its own RUNNING record.
      const transport = new Transport(h.grpcAddress);
      try {
        const lease = {
          namespace: 'default',
          runId,
          workerId: worker.id,
          leaseEpoch: task.leaseEpoch,
          leaseToken: task.leaseToken,
        };
        const res = await transport.call('worker', 'BeginStep', { lease, stepId: 'ship', seq: 1 });
        expect(res).toMatchObject({ shouldExecute: true, attempt: 1 });
      } finally {
        transport.close();
      }
      rows = await stepRows(runId);
      expect(rows.map((r) => [r.step_id, r.seq, r.status, r.attempt])).toEqual([
        ['charge', 0, 'RUNNING', 1],
        ['ship', 1, 'RUNNING', 1],
      ]);

      // A repeated BeginStep (an RPC retried after a lost reply) neither duplicates nor bumps the attempt.
      expect((await worker.begin(task, 'charge', 0)).body).toEqual({ shouldExecute: true, attempt: 1 });
      expect(await stepRows(runId)).toHaveLength(2);

      // The public API shows the same, and the run itself is still RUNNING under this lease.
      const steps = await h.client().steps(runId);
      expect(steps.map((s) => [s.stepId, s.status, s.finishedAt])).toEqual([
        ['charge', 'RUNNING', null],
        ['ship', 'RUNNING', null],
      ]);
      expect(await runRow(runId)).toMatchObject({ status: 'RUNNING', locked_by: worker.id });
    });

    test('step_complete_stores_output', async () => {
      const { worker, task, runId } = await claimedRun('complete-wf');
      const output = { receipt: 'r-1', amount: 42.5, items: ['a', 'b'], refund: null };

      expect((await worker.begin(task, 'charge', 0)).status).toBe(200);
      const completed = await worker.complete(task, 'charge', 0, output);
      expect(completed.status).toBe(200);
      expect(completed.body).toEqual({ attempt: 1 });

      const [row] = await stepRows(runId);
      expect(row).toMatchObject({ step_id: 'charge', status: 'COMPLETED', attempt: 1, output_encoding: 'json' });
      expect(row!.finished_at).toBeInstanceOf(Date);
      expect(JSON.parse(row!.output.toString('utf8'))).toEqual(output);

      // A repeated CompleteStep is idempotent and cannot overwrite what was stored.
      const again = await worker.complete(task, 'charge', 0, { receipt: 'other' });
      expect(again.status).toBe(200);
      const [after] = await stepRows(runId);
      expect(JSON.parse(after!.output.toString('utf8'))).toEqual(output);
      expect(after!.finished_at).toEqual(row!.finished_at);

      // Readable through both APIs.
      const [step] = await h.client().steps(runId);
      expect(step).toMatchObject({ stepId: 'charge', status: 'COMPLETED', output });
      const http = await h.http().get(`/v1/namespaces/default/workflows/${runId}/steps`).expect(200);
      expect(http.body.steps[0]).toMatchObject({ stepId: 'charge', status: 'COMPLETED', output });

      expect((await worker.completeWorkflow(task, 'ok')).status).toBe(200);
    });

    test('step_fail_records_error_and_schedules_retry', async () => {
      const { worker, task, runId } = await claimedRun('fail-wf');
      const error = { message: 'card declined', type: 'CardError', stack: 'CardError: card declined\n    at charge' };
      const retry = { maxAttempts: 3, initialIntervalMs: 300, backoffCoefficient: 2 };

      expect((await worker.begin(task, 'charge', 0)).status).toBe(200);
      const failed = await worker.fail(task, 'charge', 0, error, retry);
      expect(failed.status).toBe(200);
      expect(failed.body).toMatchObject({ willRetry: true, attempt: 1 });

      // The error is recorded on the step, with its retry time 300 ms (the policy's first interval) later.
      const [step] = await h.query(
        `SELECT *, extract(epoch FROM retry_at - finished_at) * 1000 AS delay_ms FROM step_runs WHERE run_id = $1`,
        [runId],
      );
      expect(step).toMatchObject({
        status: 'FAILED',
        final: false,
        attempt: 1,
        error_message: 'card declined',
        error_type: 'CardError',
        error_stack: error.stack,
      });
      expect(Number(step!.delay_ms)).toBe(300);
      expect(new Date(failed.body.retryAt).getTime()).toBe(step!.retry_at.getTime());

      // The run is parked until then: PENDING, no owner, claimable at retry_at; the old lease is dead.
      expect(await runRow(runId)).toMatchObject({ status: 'PENDING', locked_by: null, available_at: step!.retry_at });
      const stale = await worker.begin(task, 'charge', 0);
      expect(stale.status).toBe(409);
      expect(stale.body.error.code).toBe('FAILED_PRECONDITION');
      worker.release(task);

      // The replay is not handed out before retry_at; it carries the failed step in its history.
      const replay = await worker.nextTask();
      expect(Date.now()).toBeGreaterThanOrEqual(step!.retry_at.getTime());
      expect(replay.attempt).toBe(1); // step retries do not count as run attempts
      expect(replay.history).toEqual([
        expect.objectContaining({ stepId: 'charge', seq: 0, status: 'FAILED', attempt: 1, final: false }),
      ]);

      // The step runs again as attempt 2; failing again backs off by the coefficient (600 ms).
      expect((await worker.begin(replay, 'charge', 0)).body).toEqual({ shouldExecute: true, attempt: 2 });
      const second = await worker.fail(replay, 'charge', 0, error, retry);
      expect(second.body).toMatchObject({ willRetry: true, attempt: 2 });
      const [again] = await h.query(
        `SELECT extract(epoch FROM retry_at - finished_at) * 1000 AS delay_ms FROM step_runs WHERE run_id = $1`,
        [runId],
      );
      expect(Number(again!.delay_ms)).toBe(600);
      worker.release(replay);

      // The third failure exhausts maxAttempts: final, no retry, and the run stays with the worker
      // so the workflow code can handle the error.
      const last = await worker.nextTask();
      expect((await worker.begin(last, 'charge', 0)).body).toEqual({ shouldExecute: true, attempt: 3 });
      const third = await worker.fail(last, 'charge', 0, error, retry);
      expect(third.body).toMatchObject({ willRetry: false, attempt: 3, retryAt: null });
      expect((await stepRows(runId))[0]).toMatchObject({ status: 'FAILED', final: true, attempt: 3, retry_at: null });
      expect(await runRow(runId)).toMatchObject({ status: 'RUNNING', locked_by: worker.id });
    });

    test('step_already_completed_returns_cached_output', async () => {
      // Protocol: BeginStep of a completed step returns its stored output and changes nothing.
      const { worker, task, runId } = await claimedRun('cached-wf');
      const token = randomUUID();
      await worker.begin(task, 'issue-token', 0);
      expect((await worker.complete(task, 'issue-token', 0, { token })).status).toBe(200);
      const before = await stepState(runId);
      await worker.begin(task, 'use-token', 1);
      const replay = await parkAndReclaim(worker, task, 'use-token', 1);

      // The replay task already carries the output, so the SDK needs no round trip...
      expect(replay.history[0]).toMatchObject({ stepId: 'issue-token', status: 'COMPLETED', output: { token } });
      // ...and BeginStep answers with it too.
      const begun = await worker.begin(replay, 'issue-token', 0);
      expect(begun.status).toBe(200);
      expect(begun.body).toMatchObject({ shouldExecute: false, status: 'COMPLETED', attempt: 1, output: { token } });
      expect((await stepState(runId))[0]).toEqual(before[0]);

      // SDK: a step whose value differs on every call returns the recorded value on replay.
      const queue = h.unique();
      const tokensSeen: string[] = [];
      let issued = 0;
      let flaky = 0;
      const sdkWorker = h.worker({ queue });
      sdkWorker.register('cached-sdk', async (ctx) => {
        const t = await ctx.step('issue-token', () => {
          issued++;
          return randomUUID();
        });
        tokensSeen.push(t);
        await ctx.step(
          'use-token',
          () => {
            if (++flaky === 1) throw new Error('transient');
          },
          { retry: QUICK_RETRY },
        );
        return t;
      });
      await sdkWorker.start();
      const client = h.client();
      const run = await client.start('cached-sdk', undefined, { queue });
      const result = await client.result<string>(run.id);

      expect(issued).toBe(1);
      expect(tokensSeen).toEqual([result, result]);
      const steps = await client.steps(run.id);
      expect(steps[0]).toMatchObject({ stepId: 'issue-token', status: 'COMPLETED', attempt: 1, output: result });
    });
  });

  describe('3.2 deterministic replay', () => {
    test('replay_skips_completed_steps', async () => {
      // Protocol: on a new lease every completed step answers should_execute = false.
      const { worker, task, runId } = await claimedRun('skip-wf');
      for (const [seq, stepId] of ['a', 'b'].entries()) {
        await worker.begin(task, stepId, seq);
        await worker.complete(task, stepId, seq, `${stepId}-out`);
      }
      await worker.begin(task, 'c', 2);
      const replay = await parkAndReclaim(worker, task, 'c', 2);
      for (const [seq, stepId] of ['a', 'b'].entries()) {
        const res = await worker.begin(replay, stepId, seq);
        expect(res.body).toMatchObject({ shouldExecute: false, output: `${stepId}-out` });
      }
      // The failed step is the one that executes again.
      expect((await worker.begin(replay, 'c', 2)).body).toEqual({ shouldExecute: true, attempt: 2 });
      expect((await stepRows(runId)).map((r) => [r.step_id, r.status, r.attempt])).toEqual([
        ['a', 'COMPLETED', 1],
        ['b', 'COMPLETED', 1],
        ['c', 'RUNNING', 2],
      ]);

      // SDK: the handler runs twice, but the bodies of completed steps only once.
      const queue = h.unique();
      const calls = { handler: 0, a: 0, b: 0, c: 0 };
      const sdkWorker = h.worker({ queue });
      sdkWorker.register('skip-sdk', async (ctx) => {
        calls.handler++;
        const a = await ctx.step('a', () => ++calls.a);
        const b = await ctx.step('b', () => ++calls.b * 10);
        const c = await ctx.step(
          'c',
          () => {
            if (++calls.c === 1) throw new Error('transient');
            return a + b;
          },
          { retry: QUICK_RETRY },
        );
        return c;
      });
      await sdkWorker.start();
      const client = h.client();
      const run = await client.start('skip-sdk', undefined, { queue });
      await expect(client.result(run.id)).resolves.toBe(11);
      expect(calls).toEqual({ handler: 2, a: 1, b: 1, c: 2 });
      expect((await client.get(run.id)).claims).toBe(2);
      expect((await client.steps(run.id)).map((s) => [s.stepId, s.status, s.attempt])).toEqual([
        ['a', 'COMPLETED', 1],
        ['b', 'COMPLETED', 1],
        ['c', 'COMPLETED', 2],
      ]);

      // The same after a workflow-level retry: the handler throws after a step, the run is retried
      // by its policy (attempt 2), and the completed step is not run again.
      const retried = { handler: 0, charge: 0 };
      const retriedQueue = h.unique();
      const retryWorker = h.worker({ queue: retriedQueue });
      retryWorker.register('retry-sdk', async (ctx) => {
        retried.handler++;
        const receipt = await ctx.step('charge', () => `receipt-${++retried.charge}`);
        if (ctx.attempt === 1) throw new Error('downstream unavailable');
        return receipt;
      });
      await retryWorker.start();
      const again = await client.start('retry-sdk', undefined, {
        queue: retriedQueue,
        retry: { maxAttempts: 2, initialIntervalMs: 100 },
      });
      await expect(client.result(again.id)).resolves.toBe('receipt-1');
      expect(retried).toEqual({ handler: 2, charge: 1 });
      expect(await client.get(again.id)).toMatchObject({ attempt: 2, claims: 2, status: 'COMPLETED' });
    });

    test('replay_reexecutes_failed_steps', async () => {
      const queue = h.unique();
      const calls = { before: 0, flaky: 0, after: 0 };
      const worker = h.worker({ queue });
      worker.register('flaky-wf', async (ctx) => {
        await ctx.step('before', () => ++calls.before);
        // Fails on its first two attempts; each failure parks the run and the replay runs it again.
        const attemptThatWorked = await ctx.step(
          'flaky',
          () => {
            if (++calls.flaky < 3) throw new Error(`flaky failure #${calls.flaky}`);
            return calls.flaky;
          },
          { retry: QUICK_RETRY },
        );
        await ctx.step('after', () => ++calls.after);
        return attemptThatWorked;
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('flaky-wf', undefined, { queue });
      await expect(client.result(run.id)).resolves.toBe(3);
      expect(calls).toEqual({ before: 1, flaky: 3, after: 1 });

      const steps = await client.steps(run.id);
      expect(steps.map((s) => [s.stepId, s.status, s.attempt])).toEqual([
        ['before', 'COMPLETED', 1],
        ['flaky', 'COMPLETED', 3],
        ['after', 'COMPLETED', 1],
      ]);
      const stored = await client.get(run.id);
      expect(stored.claims).toBe(3); // two replays
      expect(stored.attempt).toBe(1); // step retries are not run attempts
    });

    test('replay_with_different_step_order_fails', async () => {
      // SDK: the code changes between the first execution and its replay (b now comes before a).
      const queue = h.unique();
      let version = 1;
      const calls = { a: 0, b: 0, handler: 0 };
      const worker = h.worker({ queue });
      worker.register('reorder-wf', async (ctx) => {
        calls.handler++;
        const a = () => ctx.step('a', () => ++calls.a);
        const b = () =>
          ctx.step(
            'b',
            () => {
              calls.b++;
              version = 2; // "deploy" the new code before the replay
              throw new Error('transient');
            },
            { retry: QUICK_RETRY },
          );
        if (version === 1) {
          await a();
          await b();
        } else {
          await b();
          await a();
        }
        return 'unreachable';
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('reorder-wf', undefined, { queue });
      const failure = await client.result(run.id).catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      expect((failure as WorkflowFailedError).errorType).toBe('NON_DETERMINISTIC');

      const stored = await client.get(run.id);
      expect(stored.status).toBe('FAILED');
      expect(stored.error).toMatchObject({ type: 'NON_DETERMINISTIC', nonRetryable: true });
      expect(stored.error!.message).toMatch(/replay mismatch/);
      expect(stored.attempt).toBe(1); // failed at once, no workflow retry
      // Detected before anything ran: no step body executed again on the replay.
      expect(calls).toEqual({ handler: 2, a: 1, b: 1 });
      expect((await client.steps(run.id)).map((s) => [s.stepId, s.seq, s.status])).toEqual([
        ['a', 0, 'COMPLETED'],
        ['b', 1, 'FAILED'],
      ]);

      // Protocol: the server checks too. A recorded step asked for at another position, or another
      // step asked for at a recorded position, is refused as NON_DETERMINISTIC and records nothing.
      const raw = await claimedRun('reorder-raw');
      await raw.worker.begin(raw.task, 'a', 0);
      await raw.worker.complete(raw.task, 'a', 0, 'a-out');
      await raw.worker.begin(raw.task, 'b', 1);
      const replay = await parkAndReclaim(raw.worker, raw.task, 'b', 1);
      const before = await stepState(raw.runId);

      const nonDeterministic = { code: 'FAILED_PRECONDITION', reason: 'NON_DETERMINISTIC' };
      const attempts = [
        raw.worker.begin(replay, 'b', 0), // b swapped before a
        raw.worker.complete(replay, 'a', 1, 'a-out'), // a swapped after b
        raw.worker.begin(replay, 'c', 0), // a new step where a was recorded
        raw.worker.complete(replay, 'c', 1, 'c-out'),
        raw.worker.fail(replay, 'c', 0, { message: 'boom' }),
      ];
      for (const res of await Promise.all(attempts)) {
        expect(res.status).toBe(409);
        expect(res.body.error).toMatchObject(nonDeterministic);
      }
      expect(await stepState(raw.runId)).toEqual(before);
      expect(await runRow(raw.runId)).toMatchObject({ status: 'RUNNING', lease_epoch: replay.leaseEpoch });
    });

    test('step_id_collision_across_workflows_handled', async () => {
      // Two workflow types, two runs each, all using the step id "shared" at the same position.
      const queue = h.unique();
      const bodyRuns = new Map<string, number>();
      const replayedOnce = new Set<string>();
      const worker = h.worker({ queue });
      for (const type of ['left', 'right']) {
        worker.register(type, async (ctx, input: { n: number }) => {
          const value = await ctx.step('shared', () => {
            bodyRuns.set(ctx.runId, (bodyRuns.get(ctx.runId) ?? 0) + 1);
            return `${type}:${input.n}:${ctx.runId}`;
          });
          // Every run is replayed once, so "shared" is read back from its own history.
          await ctx.step(
            'settle',
            () => {
              if (!replayedOnce.has(ctx.runId)) {
                replayedOnce.add(ctx.runId);
                throw new Error('transient');
              }
            },
            { retry: QUICK_RETRY },
          );
          return value;
        });
      }
      await worker.start();

      const client = h.client();
      const runs = await Promise.all(
        [
          ['left', 1],
          ['left', 2],
          ['right', 3],
          ['right', 4],
        ].map(async ([type, n]) => ({ type, n, id: (await client.start(type as string, { n }, { queue })).id })),
      );
      for (const run of runs) {
        await expect(client.result(run.id)).resolves.toBe(`${run.type}:${run.n}:${run.id}`);
        expect(bodyRuns.get(run.id)).toBe(1);
      }

      const rows = await h.query(
        `SELECT run_id, seq, status, output FROM step_runs WHERE step_id = 'shared' AND run_id = ANY($1::uuid[])`,
        [runs.map((r) => r.id)],
      );
      expect(rows).toHaveLength(4);
      for (const run of runs) {
        const row = rows.find((r) => r.run_id === run.id)!;
        expect(row).toMatchObject({ seq: 0, status: 'COMPLETED' });
        expect(JSON.parse(row.output.toString('utf8'))).toBe(`${run.type}:${run.n}:${run.id}`);
      }
    });
  });
});
