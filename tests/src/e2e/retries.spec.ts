import { NonRetryableError, StepFailedError, WorkflowFailedError } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';
import { RawWorker } from '../harness/protocol';
import { installTransitionAudit, timedTransitions } from '../harness/audit';

/**
 * Timing assertions are one-sided ("not before"). Handler timestamps and the
 * database clock come from the same machine; Date.now() truncates to the
 * millisecond, so a comparison may be off by that much.
 */
const CLOCK_SLACK_MS = 2;

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]);
  return row!;
}

async function stepRow(h: TestHarness, runId: string, stepId: string) {
  const [row] = await h.query(`SELECT * FROM step_runs WHERE run_id = $1 AND step_id = $2`, [runId, stepId]);
  return row;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (err: unknown) => err,
  );
}

describe('6.1 workflow retry and 3.3 step retry', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
    await installTransitionAudit(h);
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('6.1 workflow retry', () => {
    test('workflow_retry_policy_applied_on_failure', async () => {
      const queue = h.unique();
      // What each attempt saw: when it started and when it threw, on the handler's clock.
      const attempts: Record<string, Array<{ attempt: number; startedAt: number; thrownAt?: number }>> = {};
      const worker = h.worker({ queue });
      // Fails until its input's attempt, then succeeds.
      worker.register('flaky', async (ctx, input: { succeedOn: number; tag: string }) => {
        const seen = { attempt: ctx.attempt, startedAt: Date.now() } as {
          attempt: number;
          startedAt: number;
          thrownAt?: number;
        };
        (attempts[input.tag] ??= []).push(seen);
        if (ctx.attempt < input.succeedOn) {
          seen.thrownAt = Date.now();
          throw new Error(`attempt ${ctx.attempt} failed`);
        }
        return `ok on ${ctx.attempt}`;
      });
      await worker.start();
      const client = h.client();

      // An explicit policy: up to 3 attempts, 1.5 s then 3 s apart. Longer than the default's 1 s, so only
      // the custom policy can explain the delays measured below.
      const policy = { maxAttempts: 3, initialIntervalMs: 1_500, backoffCoefficient: 2 };
      const withPolicy = await client.start('flaky', { succeedOn: 3, tag: 'policy' }, { queue, retry: policy });
      // No policy: the default (3 attempts, 1 s) applies.
      const withDefault = await client.start('flaky', { succeedOn: 2, tag: 'default' }, { queue });
      // maxAttempts 1 is "no retry", which is not the same as unset.
      const noRetry = await client.start('flaky', { succeedOn: 2, tag: 'none' }, { queue, retry: { maxAttempts: 1 } });

      await expect(client.result(withPolicy.id)).resolves.toBe('ok on 3');
      await expect(client.result(withDefault.id)).resolves.toBe('ok on 2');
      const err = await failure(client.result(noRetry.id));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as Error).message).toBe('attempt 1 failed');

      const tried = (tag: string) => attempts[tag]!.map((a) => a.attempt);
      expect({ policy: tried('policy'), default: tried('default'), none: tried('none') }).toEqual({
        policy: [1, 2, 3],
        default: [1, 2],
        none: [1],
      });
      expect((await client.get(withPolicy.id)).retry).toMatchObject(policy);
      expect(await runRow(h, withPolicy.id)).toMatchObject({ status: 'COMPLETED', attempt: 3 });
      expect(await runRow(h, withDefault.id)).toMatchObject({ status: 'COMPLETED', attempt: 2 });
      expect(await runRow(h, noRetry.id)).toMatchObject({ status: 'FAILED', attempt: 1 });

      // The delays, measured. In the database: each failure parked the run with available_at exactly the
      // policy's delay after the failure was recorded (one now() for both), and the next claim came no
      // earlier. On the handler's clock: attempt n+1 started at least that long after attempt n threw.
      const delays = async (runId: string, tag: string, expected: number[]) => {
        const log = await timedTransitions(h, runId);
        const retries = log.filter((t) => t.to_attempt === t.from_attempt + 1);
        expect(retries.map((t) => t.available_at.getTime() - t.stamped_at.getTime())).toEqual(expected);
        for (const retry of retries) {
          const claim = log.find((t) => t.to_status === 'RUNNING' && t.to_attempt === retry.to_attempt)!;
          expect(claim.stamped_at.getTime()).toBeGreaterThanOrEqual(retry.available_at.getTime());
        }
        const seen = attempts[tag]!;
        expected.forEach((delay, n) => {
          expect(seen[n + 1]!.startedAt - seen[n]!.thrownAt!).toBeGreaterThanOrEqual(delay - CLOCK_SLACK_MS);
        });
      };
      await delays(withPolicy.id, 'policy', [1_500, 3_000]);
      await delays(withDefault.id, 'default', [1_000]);
      expect((await timedTransitions(h, noRetry.id)).filter((t) => t.to_attempt !== t.from_attempt)).toEqual([]);
    });

    test('workflow_retry_increments_attempt_counter', async () => {
      const queue = h.unique();
      const seen: Array<{ ctxAttempt: number; row: Record<string, unknown> }> = [];
      const worker = h.worker({ queue });
      worker.register('count', async (ctx) => {
        // What the database says while this attempt runs: the attempt number and the previous attempt's error.
        const [row] = await h.query(
          `SELECT status, attempt, error_message, locked_by FROM workflow_runs WHERE id = $1`,
          [ctx.runId],
        );
        seen.push({ ctxAttempt: ctx.attempt, row: row! });
        if (ctx.attempt < 4) throw new Error(`failure #${ctx.attempt}`);
        return ctx.attempt;
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('count', null, { queue, retry: { maxAttempts: 4, initialIntervalMs: 50 } });
      await expect(client.result(run.id)).resolves.toBe(4);

      expect(seen.map((s) => s.ctxAttempt)).toEqual([1, 2, 3, 4]);
      seen.forEach((s, i) => {
        expect(s.row).toMatchObject({
          status: 'RUNNING',
          attempt: i + 1,
          error_message: i === 0 ? null : `failure #${i}`,
          locked_by: worker.workerId,
        });
      });
      const final = await client.get(run.id);
      expect(final.attempt).toBe(4);
      expect(final.claims).toBe(4);
      // Each attempt ran under a new lease.
      expect(final.leaseEpoch).toBe(4);
    });

    test('workflow_retry_exhausted_marks_failed', async () => {
      const queue = h.unique();
      const calls: number[] = [];
      const worker = h.worker({ queue });
      worker.register('doomed', async (ctx) => {
        calls.push(ctx.attempt);
        throw new Error(`still broken (attempt ${ctx.attempt})`);
      });
      worker.register('sentinel', async () => 'ok');
      await worker.start();
      const client = h.client();
      const run = await client.start('doomed', null, { queue, retry: { maxAttempts: 3, initialIntervalMs: 50 } });

      const err = await failure(client.result(run.id));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      // The last attempt's error is what the run reports.
      expect((err as WorkflowFailedError).message).toBe('still broken (attempt 3)');
      const row = await runRow(h, run.id);
      expect(row).toMatchObject({
        status: 'FAILED',
        attempt: 3,
        locked_by: null,
        error_message: 'still broken (attempt 3)',
      });
      expect(row.finished_at).toBeInstanceOf(Date);
      // Terminal means no fourth attempt: a run started after it on the same queue completes, and the
      // failed run was not executed again meanwhile.
      const sentinel = await client.start('sentinel', null, { queue });
      await expect(client.result(sentinel.id)).resolves.toBe('ok');
      expect(calls).toEqual([1, 2, 3]);
      expect((await runRow(h, run.id)).claims).toBe(3);
    });

    test('workflow_retry_delay_respected', async () => {
      const queue = h.unique();
      const initialIntervalMs = 600;
      const executions: Array<{ attempt: number; startedAt: number; failedAt?: number }> = [];
      const worker = h.worker({ queue });
      worker.register('slow-retry', async (ctx) => {
        const execution: { attempt: number; startedAt: number; failedAt?: number } = {
          attempt: ctx.attempt,
          startedAt: Date.now(),
        };
        executions.push(execution);
        if (ctx.attempt < 3) {
          execution.failedAt = Date.now();
          throw new Error(`attempt ${ctx.attempt}`);
        }
        return 'done';
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('slow-retry', null, {
        queue,
        retry: { maxAttempts: 3, initialIntervalMs, backoffCoefficient: 2 },
      });

      // While parked between attempts the run is PENDING and not claimable before its backoff.
      const parked = await waitFor(
        async () => {
          const row = await runRow(h, run.id);
          return row.status === 'PENDING' && row.attempt === 2 ? row : null;
        },
        'the run to be parked for its retry',
        { intervalMs: 10 },
      );
      expect(parked.available_at.getTime() - parked.updated_at.getTime()).toBe(initialIntervalMs);

      await expect(client.result(run.id)).resolves.toBe('done');
      expect(executions.map((e) => e.attempt)).toEqual([1, 2, 3]);
      const [first, second, third] = executions;
      // Attempt n+1 starts no earlier than attempt n's failure plus the backoff (600 ms, then 1200 ms).
      expect(second!.startedAt - first!.failedAt!).toBeGreaterThanOrEqual(initialIntervalMs - CLOCK_SLACK_MS);
      expect(third!.startedAt - second!.failedAt!).toBeGreaterThanOrEqual(initialIntervalMs * 2 - CLOCK_SLACK_MS);
    });
  });

  describe('3.3 step retry', () => {
    test('step_retry_respects_max_attempts', async () => {
      const queue = h.unique();
      const bodyCalls: Record<string, number> = { fails: 0, caught: 0, once: 0 };
      const worker = h.worker({ queue });
      worker.register('always-fails', async (ctx) => {
        await ctx.step(
          'charge',
          () => {
            bodyCalls.fails!++;
            throw new Error(`gateway down (call ${bodyCalls.fails})`);
          },
          { retry: { maxAttempts: 3, initialIntervalMs: 50 } },
        );
        return 'unreachable';
      });
      // The workflow may catch the final failure and carry on.
      worker.register('catches', async (ctx) => {
        try {
          await ctx.step(
            'charge',
            () => {
              bodyCalls.caught!++;
              throw new Error('gateway down');
            },
            { retry: { maxAttempts: 2, initialIntervalMs: 50 } },
          );
        } catch (err) {
          return { fallback: true, caught: (err as Error).name, message: (err as Error).message };
        }
        return { fallback: false };
      });
      worker.register('single', async (ctx) => {
        await ctx.step(
          'charge',
          () => {
            bodyCalls.once!++;
            throw new Error('no second chance');
          },
          { retry: { maxAttempts: 1 } },
        );
      });
      await worker.start();
      const client = h.client();
      // The run's own policy would allow more workflow attempts: a spent step must not replay it.
      const failing = await client.start('always-fails', null, {
        queue,
        retry: { maxAttempts: 5, initialIntervalMs: 50 },
      });
      const catching = await client.start('catches', null, { queue });
      const single = await client.start('single', null, { queue });

      const err = await failure(client.result(failing.id));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as Error).message).toBe('gateway down (call 3)');
      await expect(client.result(catching.id)).resolves.toEqual({
        fallback: true,
        caught: StepFailedError.name,
        message: 'gateway down',
      });
      await expect(client.result(single.id)).rejects.toBeInstanceOf(WorkflowFailedError);

      expect(bodyCalls).toEqual({ fails: 3, caught: 2, once: 1 });
      expect(await stepRow(h, failing.id, 'charge')).toMatchObject({
        status: 'FAILED',
        final: true,
        attempt: 3,
        retry_at: null,
        error_message: 'gateway down (call 3)',
      });
      expect(await stepRow(h, catching.id, 'charge')).toMatchObject({ status: 'FAILED', final: true, attempt: 2 });
      expect(await stepRow(h, single.id, 'charge')).toMatchObject({ status: 'FAILED', final: true, attempt: 1 });
      // Step retries are not run attempts.
      expect(await runRow(h, failing.id)).toMatchObject({ status: 'FAILED', attempt: 1 });
    });

    test('step_retry_respects_backoff_policy', async () => {
      const queue = h.unique();
      const calls: Record<string, number[]> = { own: [], inherited: [] };
      const worker = h.worker({ queue });
      // The step's own policy: 150 ms × 2^n → gaps of at least 150, 300, 600 ms.
      worker.register('own-policy', async (ctx) => {
        return ctx.step(
          'call',
          () => {
            calls.own!.push(Date.now());
            if (calls.own!.length < 4) throw new Error('not yet');
            return calls.own!.length;
          },
          { retry: { maxAttempts: 4, initialIntervalMs: 150, backoffCoefficient: 2 } },
        );
      });
      // No step policy: the run's policy applies (400 ms, ×3 → 400, 1200 ms).
      worker.register('run-policy', async (ctx) => {
        return ctx.step('call', () => {
          calls.inherited!.push(Date.now());
          if (calls.inherited!.length < 3) throw new Error('not yet');
          return calls.inherited!.length;
        });
      });
      await worker.start();
      const client = h.client();
      const own = await client.start('own-policy', null, { queue });
      const inherited = await client.start('run-policy', null, {
        queue,
        retry: { maxAttempts: 3, initialIntervalMs: 400, backoffCoefficient: 3 },
      });
      await expect(client.result(own.id)).resolves.toBe(4);
      await expect(client.result(inherited.id)).resolves.toBe(3);

      const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);
      const ownGaps = gaps(calls.own!);
      [150, 300, 600].forEach((delay, i) => expect(ownGaps[i]).toBeGreaterThanOrEqual(delay - CLOCK_SLACK_MS));
      const inheritedGaps = gaps(calls.inherited!);
      [400, 1200].forEach((delay, i) => expect(inheritedGaps[i]).toBeGreaterThanOrEqual(delay - CLOCK_SLACK_MS));
      expect(await stepRow(h, own.id, 'call')).toMatchObject({ status: 'COMPLETED', attempt: 4, retry_at: null });
      expect(await stepRow(h, inherited.id, 'call')).toMatchObject({ status: 'COMPLETED', attempt: 3 });
    });

    test('step_retry_non_retryable_error_stops_immediately', async () => {
      const queue = h.unique();
      const calls: Record<string, number> = { explicit: 0, listed: 0, control: 0 };
      class FraudDetected extends Error {
        override name = 'FraudDetected';
      }
      const worker = h.worker({ queue });
      const generous = { maxAttempts: 5, initialIntervalMs: 50, nonRetryableErrors: ['FraudDetected'] };
      worker.register('explicit', async (ctx) => {
        await ctx.step(
          'validate',
          () => {
            calls.explicit!++;
            throw new NonRetryableError('card number is invalid', 'InvalidCard');
          },
          { retry: generous },
        );
      });
      worker.register('listed', async (ctx) => {
        await ctx.step(
          'validate',
          () => {
            calls.listed!++;
            throw new FraudDetected('blocked by fraud rules');
          },
          { retry: generous },
        );
      });
      // Control: the same policy retries an ordinary error.
      worker.register('control', async (ctx) => {
        return ctx.step(
          'validate',
          () => {
            if (++calls.control! < 2) throw new Error('flaky');
            return 'valid';
          },
          { retry: generous },
        );
      });
      await worker.start();
      const client = h.client();
      const explicit = await client.start('explicit', null, {
        queue,
        retry: { maxAttempts: 4, initialIntervalMs: 50 },
      });
      const listed = await client.start('listed', null, { queue });
      const control = await client.start('control', null, { queue });

      const explicitErr = await failure(client.result(explicit.id));
      expect(explicitErr).toBeInstanceOf(WorkflowFailedError);
      expect((explicitErr as WorkflowFailedError).errorType).toBe('InvalidCard');
      const listedErr = await failure(client.result(listed.id));
      expect((listedErr as WorkflowFailedError).errorType).toBe('FraudDetected');
      await expect(client.result(control.id)).resolves.toBe('valid');
      expect(calls).toEqual({ explicit: 1, listed: 1, control: 2 });

      for (const [id, type] of [
        [explicit.id, 'InvalidCard'],
        [listed.id, 'FraudDetected'],
      ] as const) {
        expect(await stepRow(h, id, 'validate')).toMatchObject({
          status: 'FAILED',
          final: true,
          attempt: 1,
          retry_at: null,
          error_type: type,
        });
        // The workflow is not retried either.
        expect(await runRow(h, id)).toMatchObject({ status: 'FAILED', attempt: 1, claims: 1 });
      }
    });

    test('step_retry_at_honored_before_reexecution', async () => {
      const queue = h.unique();
      const delayMs = 800;
      const calls: number[] = [];
      const worker = h.worker({ queue });
      worker.register('delayed', async (ctx) => {
        return ctx.step(
          'call',
          async () => {
            calls.push(Date.now());
            if (calls.length === 1) throw new Error('first try fails');
            return 'second try';
          },
          { retry: { maxAttempts: 2, initialIntervalMs: delayMs } },
        );
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('delayed', null, { queue });
      const parkedRow = await waitFor(
        () => stepRow(h, run.id, 'call').then((s) => (s?.status === 'FAILED' ? s : null)),
        'the failed attempt',
        {
          intervalMs: 10,
        },
      );
      await expect(client.result(run.id)).resolves.toBe('second try');

      // retry_at was set from the policy when the attempt failed, and the run was parked until then.
      expect(parkedRow!.retry_at).toBeInstanceOf(Date);
      expect(parkedRow!.retry_at.getTime() - parkedRow!.finished_at.getTime()).toBe(delayMs);
      expect(parkedRow!.final).toBe(false);
      // The re-execution started no earlier than retry_at.
      expect(calls).toHaveLength(2);
      expect(calls[1]!).toBeGreaterThanOrEqual(parkedRow!.retry_at.getTime() - CLOCK_SLACK_MS);

      // By hand: a run parked for a step retry is not handed out before retry_at, and BeginStep
      // before retry_at is refused even for a lease that somehow holds the run early.
      const rawQueue = h.unique();
      const raw = await RawWorker.register(h, { queue: rawQueue, workflowTypes: ['manual'] });
      try {
        const manual = await client.start('manual', null, { queue: rawQueue });
        const task = await raw.nextTask();
        expect((await raw.begin(task, 'call', 0)).body).toMatchObject({ shouldExecute: true, attempt: 1 });
        const failed = await raw.fail(
          task,
          'call',
          0,
          { message: 'boom' },
          { maxAttempts: 3, initialIntervalMs: 1500 },
        );
        expect(failed.status).toBe(200);
        expect(failed.body.willRetry).toBe(true);
        raw.release(task);
        const retryAt = new Date(failed.body.retryAt).getTime();
        const step = await stepRow(h, manual.id, 'call');
        expect(step!.retry_at.getTime()).toBe(retryAt);
        expect(await runRow(h, manual.id)).toMatchObject({ status: 'PENDING', locked_by: null });
        expect((await runRow(h, manual.id)).available_at.getTime()).toBe(retryAt);

        // Polling resumes at once, but the next task comes only at retry_at.
        const again = await raw.nextTask();
        expect(Date.now()).toBeGreaterThanOrEqual(retryAt - CLOCK_SLACK_MS);
        expect(again.runId).toBe(manual.id);
        expect(again.history).toEqual([
          expect.objectContaining({ stepId: 'call', status: 'FAILED', attempt: 1, final: false }),
        ]);
        // Push retry_at into the future again (the run is already held): BeginStep is refused.
        await h.query(`UPDATE step_runs SET retry_at = now() + interval '1 hour' WHERE run_id = $1`, [manual.id]);
        const early = await raw.begin(again, 'call', 0);
        expect(early.status).toBe(409);
        expect(early.body.error.code).toBe('FAILED_PRECONDITION');
        expect(early.body.error.message).toMatch(/retry_at/);
        expect(await stepRow(h, manual.id, 'call')).toMatchObject({ status: 'FAILED', attempt: 1 });
        // Once retry_at has passed, the same BeginStep starts attempt 2.
        await h.query(`UPDATE step_runs SET retry_at = now() WHERE run_id = $1`, [manual.id]);
        expect((await raw.begin(again, 'call', 0)).body).toMatchObject({ shouldExecute: true, attempt: 2 });
        expect((await raw.complete(again, 'call', 0, 'fine')).status).toBe(200);
        expect((await raw.completeWorkflow(again, 'done')).status).toBe(200);
        await expect(client.result(manual.id)).resolves.toBe('done');
      } finally {
        await raw.stop();
      }
    });
  });
});
