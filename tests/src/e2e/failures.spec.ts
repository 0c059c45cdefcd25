import {
  BatonError,
  CancelledError,
  NonRetryableError,
  Transport,
  WorkflowCancelledError,
  WorkflowFailedError,
} from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness, deferred, rawCall, waitFor } from '../index';

/** A domain error of the application, with its own name (recorded as the error type). */
class PaymentDeclinedError extends Error {
  override name = 'PaymentDeclinedError';
}

/** Runs fail on their first error unless a test says otherwise. */
const NO_RETRY = { maxAttempts: 1 };

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]);
  return row!;
}

async function resultError(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (err: unknown) => err,
  );
}

describe('2. Workflow execution: failures and cancellation', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('2.2 failure handling', () => {
    test('workflow_failure_records_error_message', async () => {
      const queue = h.unique();
      const worker = h.worker({ queue });
      // A named function, so the recorded stack shows where the error came from.
      async function chargeCard(amount: number): Promise<never> {
        throw new PaymentDeclinedError(`card declined: insufficient funds for ${amount}`);
      }
      worker.register('charge', async (_ctx, input: { amount: number }) => chargeCard(input.amount));
      await worker.start();

      const client = h.client();
      const run = await client.start('charge', { amount: 120 }, { queue, retry: NO_RETRY });
      const err = await resultError(client.result(run.id));
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failed = err as WorkflowFailedError;
      expect(failed.runId).toBe(run.id);
      expect(failed.message).toBe('card declined: insufficient funds for 120');
      expect(failed.errorType).toBe('PaymentDeclinedError');
      expect(failed.remoteStack).toContain('PaymentDeclinedError: card declined');
      expect(failed.remoteStack).toContain('chargeCard');

      // The same details as stored: the client API, the HTTP API and the row agree.
      const stored = await client.get(run.id);
      expect(stored.status).toBe('FAILED');
      expect(stored.finishedAt).toBeInstanceOf(Date);
      expect(stored.attempt).toBe(1);
      expect(stored.error).toMatchObject({
        message: 'card declined: insufficient funds for 120',
        type: 'PaymentDeclinedError',
        nonRetryable: false,
      });
      expect(stored.error!.stack).toContain('chargeCard');
      expect(stored.output).toBeUndefined();
      const http = await h.http().get(`/v1/namespaces/default/workflows/${run.id}`).expect(200);
      expect(http.body.status).toBe('FAILED');
      expect(http.body.error).toMatchObject({
        message: 'card declined: insufficient funds for 120',
        type: 'PaymentDeclinedError',
      });
      const row = await runRow(h, run.id);
      expect(row.error_message).toBe('card declined: insufficient funds for 120');
      expect(row.error_type).toBe('PaymentDeclinedError');
      expect(row.error_stack).toContain('chargeCard');
      expect(row.locked_by).toBeNull();
    });

    test('workflow_panic_treated_as_failure', async () => {
      const queue = h.unique();
      const worker = h.worker({ queue, maxConcurrent: 10 });
      worker.register('throws-number', async () => {
        throw 42;
      });
      worker.register('rejects-string', () => Promise.reject('the string it rejected with'));
      worker.register('throws-object', async () => {
        throw { code: 'E_WEIRD', detail: [1, 2] };
      });
      worker.register('throws-undefined', async () => {
        throw undefined;
      });
      worker.register('type-error', async (_ctx, input: { customer?: { name: string } }) => {
        // A bug: the input has no customer.
        return input.customer!.name.toUpperCase();
      });
      // Not even async: throws synchronously when called.
      worker.register('sync-throw', (): Promise<never> => {
        throw new RangeError('thrown before any promise existed');
      });
      worker.register('step-panic', async (ctx) => {
        await ctx.step(
          'bad-step',
          () => {
            throw 'a string from inside a step';
          },
          { retry: NO_RETRY },
        );
      });
      worker.register('healthy', async (_ctx, n: number) => n * 2);
      await worker.start();

      const client = h.client();
      const cases: Array<{
        type: string;
        input?: unknown;
        message: RegExp;
        errorType: string | RegExp;
        stack: boolean;
      }> = [
        { type: 'throws-number', message: /42/, errorType: 'NonErrorThrown', stack: false },
        { type: 'rejects-string', message: /the string it rejected with/, errorType: 'NonErrorThrown', stack: false },
        { type: 'throws-object', message: /E_WEIRD/, errorType: 'NonErrorThrown', stack: false },
        { type: 'throws-undefined', message: /undefined/, errorType: 'NonErrorThrown', stack: false },
        {
          type: 'type-error',
          input: {},
          message: /Cannot read properties of undefined/,
          errorType: 'TypeError',
          stack: true,
        },
        { type: 'sync-throw', message: /thrown before any promise existed/, errorType: 'RangeError', stack: true },
        { type: 'step-panic', message: /a string from inside a step/, errorType: 'NonErrorThrown', stack: false },
      ];
      const runs = await Promise.all(
        cases.map((c) => client.start(c.type, c.input ?? null, { queue, retry: NO_RETRY })),
      );
      for (const [i, c] of cases.entries()) {
        const err = await resultError(client.result(runs[i]!.id, { timeout: '20s' }));
        expect(err).toBeInstanceOf(WorkflowFailedError);
        const stored = await client.get(runs[i]!.id);
        expect({ type: c.type, status: stored.status }).toEqual({ type: c.type, status: 'FAILED' });
        expect(stored.error!.message).toMatch(c.message);
        expect(stored.error!.type).toEqual(
          c.errorType instanceof RegExp ? expect.stringMatching(c.errorType) : c.errorType,
        );
        if (c.stack) expect(stored.error!.stack).toMatch(/\n\s+at /);
        expect(stored.finishedAt).toBeInstanceOf(Date);
      }
      // The failed step is recorded as failed for good, with what was thrown.
      const [badStep] = await client.steps(runs[cases.length - 1]!.id);
      expect(badStep).toMatchObject({ stepId: 'bad-step', status: 'FAILED', final: true });
      expect(badStep!.error!.message).toMatch(/a string from inside a step/);

      // The worker survived all of it: it still runs work, on the same registration.
      const idBefore = worker.workerId;
      const healthy = await client.start('healthy', 21, { queue });
      await expect(client.result(healthy.id, { timeout: '20s' })).resolves.toBe(42);
      expect(worker.workerId).toBe(idBefore);
      expect(worker.activeCount).toBe(0);
      const [w] = await h.query(`SELECT status FROM workers WHERE id = $1`, [idBefore]);
      expect(w!.status).toBe('ONLINE');
    });

    test('non_retryable_error_fails_immediately', async () => {
      const queue = h.unique();
      const calls: Record<string, number[]> = { explicit: [], listed: [], control: [] };
      const worker = h.worker({ queue });
      worker.register('explicit', async (ctx: WorkflowContext) => {
        calls.explicit!.push(ctx.attempt);
        throw new NonRetryableError('account is closed', 'AccountClosed');
      });
      // An ordinary error whose type the run's policy lists as non-retryable.
      worker.register('listed', async (ctx: WorkflowContext) => {
        calls.listed!.push(ctx.attempt);
        throw new PaymentDeclinedError('declined for fraud');
      });
      // Control: the same policy does retry an ordinary error.
      worker.register('control', async (ctx: WorkflowContext) => {
        calls.control!.push(ctx.attempt);
        if (ctx.attempt < 2) throw new Error('transient');
        return 'ok';
      });
      await worker.start();

      const client = h.client();
      const retry = { maxAttempts: 5, initialIntervalMs: 50, nonRetryableErrors: ['PaymentDeclinedError'] };
      const explicit = await client.start('explicit', null, { queue, retry });
      const listed = await client.start('listed', null, { queue, retry });
      const control = await client.start('control', null, { queue, retry });

      const explicitErr = await resultError(client.result(explicit.id));
      expect(explicitErr).toBeInstanceOf(WorkflowFailedError);
      expect((explicitErr as WorkflowFailedError).errorType).toBe('AccountClosed');
      const listedErr = await resultError(client.result(listed.id));
      expect((listedErr as WorkflowFailedError).errorType).toBe('PaymentDeclinedError');
      await expect(client.result(control.id)).resolves.toBe('ok');

      for (const id of [explicit.id, listed.id]) {
        const row = await runRow(h, id);
        expect(row.status).toBe('FAILED');
        expect(row.attempt).toBe(1);
        expect(row.claims).toBe(1);
      }
      expect((await runRow(h, explicit.id)).error_non_retryable).toBe(true);
      expect(calls.explicit).toEqual([1]);
      expect(calls.listed).toEqual([1]);
      // The retrying control proves the policy itself allowed more attempts.
      expect(calls.control).toEqual([1, 2]);
    });
  });

  describe('2.3 cancellation', () => {
    test('cancel_pending_workflow_succeeds', async () => {
      const queue = h.unique();
      const client = h.client();
      // No worker yet: the run stays PENDING.
      const run = await client.start('job', { n: 1 }, { queue });
      expect(run.run.status).toBe('PENDING');
      const cancelled = await client.cancel(run.id);
      expect(cancelled.alreadyCancelled).toBe(false);
      expect(cancelled.run.status).toBe('CANCELLED');
      expect(cancelled.run.finishedAt).toBeInstanceOf(Date);
      await expect(client.result(run.id)).rejects.toBeInstanceOf(WorkflowCancelledError);

      // Over HTTP as well.
      const other = await client.start('job', { n: 2 }, { queue });
      const res = await h.http().post(`/v1/namespaces/default/workflows/${other.id}/cancel`).expect(200);
      expect(res.body).toMatchObject({ alreadyCancelled: false, run: { id: other.id, status: 'CANCELLED' } });

      // A worker arriving later never executes them: a run started after them is
      // executed (claims go oldest first), the cancelled ones never are.
      const seen: string[] = [];
      const worker = h.worker({ queue });
      worker.register('job', async (ctx) => {
        seen.push(ctx.runId);
        return 'ran';
      });
      await worker.start();
      const sentinel = await client.start('job', { n: 3 }, { queue });
      await expect(client.result(sentinel.id)).resolves.toBe('ran');
      expect(seen).toEqual([sentinel.id]);
      const rows = await h.query(`SELECT id, status, claims, locked_by FROM workflow_runs WHERE id = ANY($1::uuid[])`, [
        [run.id, other.id],
      ]);
      expect(rows).toHaveLength(2);
      for (const row of rows) expect(row).toMatchObject({ status: 'CANCELLED', claims: 0, locked_by: null });
    });

    test('cancel_running_workflow_interrupts_execution', async () => {
      const queue = h.unique();
      const started = deferred<void>();
      const aborted = deferred<{ reason: unknown; at: number }>();
      const later = deferred<unknown>();
      let laterBodyRan = false;
      const worker = h.worker({ queue });
      worker.register('long', async (ctx) => {
        await ctx.step('before', () => 'done before');
        ctx.signal.addEventListener('abort', () => aborted.resolve({ reason: ctx.signal.reason, at: Date.now() }));
        started.resolve();
        // Ignores the signal on purpose until it fires, then carries on like careless code would.
        await aborted.promise;
        try {
          await ctx.step('after', () => {
            laterBodyRan = true;
            return 'should not run';
          });
          later.resolve(new Error('ctx.step after cancel did not throw'));
        } catch (err) {
          later.resolve(err);
        }
        return 'finished anyway';
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('long', null, { queue });
      await started.promise;
      // The SDK records a completed step on the next turn of the event loop (with the
      // workflow's next call); a cancel inside that gap would refuse the record, so
      // the run is cancelled only once "before" is durable.
      await waitFor(
        async () => (await client.steps(run.id)).some((s) => s.stepId === 'before' && s.status === 'COMPLETED'),
        'step "before" to be recorded',
      );
      const [owned] = await h.query(
        `SELECT locked_by, lease_epoch, lease_token, status FROM workflow_runs WHERE id = $1`,
        [run.id],
      );
      expect(owned).toMatchObject({ status: 'RUNNING', locked_by: worker.workerId });

      const cancelledAt = Date.now();
      const cancelled = await client.cancel(run.id);
      expect(cancelled.run.status).toBe('CANCELLED');

      // The handler learns it through ctx.signal (via the heartbeat), never before the cancel.
      const abort = await aborted.promise;
      expect(abort.at).toBeGreaterThanOrEqual(cancelledAt);
      expect(abort.reason).toBeInstanceOf(CancelledError);
      // Its later ctx.step calls throw without running the body.
      const laterErr = await later.promise;
      expect(laterErr).toBeInstanceOf(CancelledError);
      expect(laterBodyRan).toBe(false);
      // The worker lets go of the run.
      await waitFor(() => worker.activeCount === 0, 'the worker to drop the cancelled run');

      // Mutations with the old lease are refused: the run was cancelled.
      const transport = new Transport(h.grpcAddress);
      try {
        const lease = {
          namespace: 'default',
          runId: run.id,
          workerId: owned!.locked_by,
          leaseEpoch: owned!.lease_epoch,
          leaseToken: owned!.lease_token,
        };
        const attempts: Array<[string, object]> = [
          ['CompleteStep', { lease, stepId: 'after', seq: 1, output: { data: Buffer.from('"x"'), encoding: 'json' } }],
          ['BeginStep', { lease, stepId: 'after', seq: 1 }],
          ['Sleep', { lease, stepId: 'nap', seq: 1, durationMs: 1000 }],
          ['CompleteWorkflow', { lease, output: { data: Buffer.from('"late"'), encoding: 'json' } }],
          ['FailWorkflow', { lease, error: { message: 'late failure' } }],
        ];
        for (const [method, body] of attempts) {
          const err = await rawCall(transport, 'worker', method, body).then(
            () => null,
            (e: unknown) => e,
          );
          expect({ method, err }).toMatchObject({
            method,
            err: { code: 'FAILED_PRECONDITION', reason: 'RUN_CANCELLED' },
          });
          expect(err).toBeInstanceOf(BatonError);
        }
      } finally {
        transport.close();
      }

      const row = await runRow(h, run.id);
      expect(row.status).toBe('CANCELLED');
      expect(row.error_message).toBeNull();
      const [payload] = await h.query(`SELECT output FROM workflow_payloads WHERE run_id = $1`, [run.id]);
      expect(payload!.output).toBeNull();
      expect((await client.steps(run.id)).map((s) => s.stepId)).toEqual(['before']);
      await expect(client.result(run.id)).rejects.toBeInstanceOf(WorkflowCancelledError);
    });

    test('cancel_sleeping_workflow_succeeds', async () => {
      const queue = h.unique();
      const entries: string[] = [];
      const worker = h.worker({ queue });
      worker.register('napper', async (ctx, input: { id: string }) => {
        entries.push(`${input.id}:enter`);
        await ctx.sleep('nap', '1500ms');
        entries.push(`${input.id}:woke`);
        return 'rested';
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('napper', { id: 'victim' }, { queue });
      const sleeping = await waitFor(async () => {
        const r = await client.get(run.id);
        return r.status === 'SLEEPING' ? r : null;
      }, 'the run to sleep');
      expect(sleeping.wakeUpAt).toBeInstanceOf(Date);

      const cancelled = await client.cancel(run.id);
      expect(cancelled.alreadyCancelled).toBe(false);
      expect(cancelled.run.status).toBe('CANCELLED');
      expect(cancelled.run.wakeUpAt).toBeNull();
      await expect(client.result(run.id)).rejects.toBeInstanceOf(WorkflowCancelledError);

      // A sentinel sleeping as long, started after the cancel, wakes and finishes
      // (the replay after its sleep enters the handler a second time); by then the
      // cancelled sleeper's wake time has passed too, and it was never replayed.
      const sentinel = await client.start('napper', { id: 'sentinel' }, { queue });
      await expect(client.result(sentinel.id, { timeout: '20s' })).resolves.toBe('rested');
      expect(Date.now()).toBeGreaterThan(sleeping.wakeUpAt!.getTime());
      expect(entries).toEqual(['victim:enter', 'sentinel:enter', 'sentinel:enter', 'sentinel:woke']);
      const row = await runRow(h, run.id);
      expect(row).toMatchObject({ status: 'CANCELLED', claims: 1, wake_up_at: null, locked_by: null });
    });

    test('cancel_completed_workflow_fails', async () => {
      const queue = h.unique();
      const worker = h.worker({ queue });
      worker.register('quick', async () => ({ done: true }));
      worker.register('broken', async () => {
        throw new Error('broken');
      });
      await worker.start();
      const client = h.client();
      const completed = await client.start('quick', null, { queue });
      await expect(client.result(completed.id)).resolves.toEqual({ done: true });
      const failed = await client.start('broken', null, { queue, retry: NO_RETRY });
      await expect(client.result(failed.id)).rejects.toBeInstanceOf(WorkflowFailedError);

      for (const [id, status] of [
        [completed.id, 'COMPLETED'],
        [failed.id, 'FAILED'],
      ] as const) {
        const before = await runRow(h, id);
        const err = await client.cancel(id).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(BatonError);
        expect((err as BatonError).code).toBe('FAILED_PRECONDITION');
        expect((err as BatonError).message).toContain(status);

        const res = await h.http().post(`/v1/namespaces/default/workflows/${id}/cancel`);
        expect(res.status).toBe(409);
        expect(res.body.error.code).toBe('FAILED_PRECONDITION');

        // Nothing changed.
        const after = await runRow(h, id);
        expect(after.status).toBe(status);
        expect(after.finished_at.getTime()).toBe(before.finished_at.getTime());
        expect(after.updated_at.getTime()).toBe(before.updated_at.getTime());
      }
      expect((await client.get(completed.id)).output).toEqual({ done: true });
    });

    test('cancel_idempotent_on_same_workflow', async () => {
      const queue = h.unique();
      const client = h.client();
      const run = await client.start('idle', null, { queue });
      const first = await client.cancel(run.id);
      expect(first.alreadyCancelled).toBe(false);
      const again = await client.cancel(run.id);
      expect(again.alreadyCancelled).toBe(true);
      expect(again.run.status).toBe('CANCELLED');
      expect(again.run.finishedAt!.getTime()).toBe(first.run.finishedAt!.getTime());
      const http = await h.http().post(`/v1/namespaces/default/workflows/${run.id}/cancel`).expect(200);
      expect(http.body).toMatchObject({ alreadyCancelled: true, run: { status: 'CANCELLED' } });

      // Many cancels at once: exactly one performs it, all succeed.
      const contested = await client.start('idle', null, { queue });
      const outcomes = await Promise.all(Array.from({ length: 12 }, () => client.cancel(contested.id)));
      expect(outcomes.filter((o) => !o.alreadyCancelled)).toHaveLength(1);
      expect(new Set(outcomes.map((o) => o.run.finishedAt!.getTime())).size).toBe(1);
      for (const o of outcomes) expect(o.run.status).toBe('CANCELLED');
      await expect(client.result(contested.id)).rejects.toBeInstanceOf(WorkflowCancelledError);

      // Cancelling a running run twice is as safe.
      const worker = h.worker({ queue });
      const running = deferred<void>();
      worker.register('busy', async (ctx) => {
        running.resolve();
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      });
      await worker.start();
      const busy = await client.start('busy', null, { queue });
      await running.promise;
      const [a, b] = await Promise.all([client.cancel(busy.id), client.cancel(busy.id)]);
      expect([a.alreadyCancelled, b.alreadyCancelled].sort()).toEqual([false, true]);
      await waitFor(() => worker.activeCount === 0, 'the worker to drop the cancelled run');
      expect((await runRow(h, busy.id)).status).toBe('CANCELLED');
    });
  });
});
