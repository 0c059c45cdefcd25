import { TestHarness, waitFor } from '../index';
import { WorkflowFailedError } from '@baton/sdk';
import { expectNoOwnerlessRunningRuns, trueQueueCounts } from '../harness/assertions';
import { SilentWorker } from '../harness/silent-worker';

const LEASE_MS = 1_000;
const WATCHDOG_MS = 1_000;

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(
    `SELECT *, (extract(epoch FROM (available_at - updated_at)) * 1000)::numeric AS backoff_ms
     FROM workflow_runs WHERE id = $1`,
    [id],
  );
  return row!;
}

/** Waits until the watchdog has taken the run away from its (silent) owner. */
function waitRecovered(h: TestHarness, id: string, timeoutMs = 10_000) {
  return waitFor(
    async () => {
      const row = await runRow(h, id);
      return row.status !== 'RUNNING' ? row : null;
    },
    `run ${id} to be recovered from its expired lease`,
    { timeoutMs },
  );
}

describe('6. Retry & recovery', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Short leases, a stale threshold far away: here the lease, not the worker's silence, decides.
    h = await TestHarness.start({
      leaseDurationSecs: LEASE_MS / 1000,
      workerStaleThresholdSecs: 60,
      heartbeatIntervalSecs: 0.25,
      watchdogIntervalSecs: WATCHDOG_MS / 1000,
    });
  });

  afterAll(() => h?.stop());

  describe('6.2 orphan recovery', () => {
    test('orphaned_workflow_detected_by_watchdog', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });

      // Claimed, then never heartbeated: the lease runs out and the watchdog takes the run back.
      const run = await client.start('job', 'x', { queue });
      const task = await silent.claim();
      expect(task.runId).toBe(run.id);
      const claimed = await runRow(h, run.id);
      expect(claimed.status).toBe('RUNNING');
      expect(claimed.locked_by).toBe(silent.id);
      const leaseEnd = claimed.locked_until.getTime();

      const recovered = await waitRecovered(h, run.id);
      expect(recovered.status).toBe('PENDING');
      expect(recovered.locked_by).toBeNull();
      expect(recovered.locked_until).toBeNull();
      expect(recovered.error_type).toBe('LEASE_LOST');
      expect(recovered.error_message).toMatch(/lease lost/);
      expect(recovered.attempt).toBe(2);
      // Not before the lease expired, and within one watchdog interval after (plus scheduling slack).
      expect(recovered.updated_at.getTime()).toBeGreaterThanOrEqual(leaseEnd);
      expect(recovered.updated_at.getTime() - leaseEnd).toBeLessThan(WATCHDOG_MS + 1_500);
      // The lease decided, not staleness: the silent worker is still ONLINE.
      const [worker] = await h.query(`SELECT status FROM workers WHERE id = $1`, [silent.id]);
      expect(worker!.status).toBe('ONLINE');
      expect(await client.queueStats(queue)).toMatchObject({ pending: 1, running: 0, sleeping: 0 });

      // The old owner's late completion is refused; it no longer holds the run.
      const late = await silent.completeWorkflow(task, 'late').expect(409);
      expect(late.body.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'LEASE_LOST' });

      // Without the watchdog an expired lease stays expired: detection is the watchdog's job.
      await h.stopApp('watchdog');
      let stuck = '';
      try {
        stuck = (await client.start('job', 'y', { queue })).id;
        await silent.claim();
        await waitFor(
          async () =>
            (
              await h.query(
                `SELECT 1 FROM workflow_runs WHERE id = $1 AND locked_until < now() - interval '1 second'`,
                [stuck],
              )
            ).length === 1,
          'the lease to be long expired',
        );
        expect((await runRow(h, stuck)).status).toBe('RUNNING');
      } finally {
        await h.startApp('watchdog');
      }
      const later = await waitRecovered(h, stuck);
      expect(later).toMatchObject({ status: 'PENDING', attempt: 2, error_type: 'LEASE_LOST' });
      await silent.deregister();

      // A healthy worker then completes both, on their second attempt.
      const attempts: number[] = [];
      const worker2 = h.worker({ queue });
      worker2.register('job', async (ctx, input: string) => {
        attempts.push(ctx.attempt);
        return input;
      });
      await worker2.start();
      await expect(client.result(run.id)).resolves.toBe('x');
      await expect(client.result(stuck)).resolves.toBe('y');
      expect(attempts).toEqual([2, 2]);
      expect(await trueQueueCounts(h, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('orphaned_workflow_rescheduled_with_backoff', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      const run = await client.start('job', undefined, {
        queue,
        retry: { maxAttempts: 4, initialIntervalMs: 1_500, backoffCoefficient: 2 },
      });

      // First loss: claimable again 1.5 s after the recovery (initialInterval).
      await silent.claim();
      const first = await waitRecovered(h, run.id);
      expect(first.status).toBe('PENDING');
      expect(Number(first.backoff_ms)).toBe(1_500);
      expect(first.error_message).toMatch(/lease lost on attempt 1/);
      const again = await silent.claim();
      expect(again.attempt).toBe(2);
      const reclaimed = await runRow(h, run.id);
      // The claim's now() is locked_until − lease: never before available_at.
      expect(reclaimed.locked_until.getTime() - LEASE_MS).toBeGreaterThanOrEqual(reclaimed.available_at.getTime());

      // Second loss: the delay grows by the coefficient (1.5 s × 2).
      const second = await waitRecovered(h, run.id);
      expect(second.status).toBe('PENDING');
      expect(second.attempt).toBe(3);
      expect(Number(second.backoff_ms)).toBe(3_000);
      // A poll that ends before the backoff is over gets nothing (poll timeout 2 s < 3 s).
      const tooEarly = await silent.poll();
      expect(tooEarly).toBeNull();
      expect((await runRow(h, run.id)).status).toBe('PENDING');
      await silent.deregister();

      const attempts: number[] = [];
      const worker = h.worker({ queue });
      worker.register('job', async (ctx) => {
        attempts.push(ctx.attempt);
        return 'done';
      });
      await worker.start();
      await expect(client.result(run.id)).resolves.toBe('done');
      expect(attempts).toEqual([3]);
      const done = await runRow(h, run.id);
      expect(done.claims).toBe(3);
      expect(done.started_at.getTime()).toBeLessThan(second.available_at.getTime());
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('orphan_recovery_increments_attempt', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      const run = await client.start('job', undefined, { queue, retry: { maxAttempts: 5, initialIntervalMs: 100 } });

      // Three lost leases in a row: attempt goes up by exactly one each time.
      for (const expected of [1, 2, 3]) {
        const task = await silent.claim();
        expect(task.runId).toBe(run.id);
        expect(task.attempt).toBe(expected);
        const recovered = await waitRecovered(h, run.id);
        expect(recovered.status).toBe('PENDING');
        expect(recovered.attempt).toBe(expected + 1);
        expect(recovered.claims).toBe(expected);
        expect((await client.get(run.id)).attempt).toBe(expected + 1);
      }
      await silent.deregister();

      const seen: number[] = [];
      const worker = h.worker({ queue });
      worker.register('job', async (ctx) => {
        seen.push(ctx.attempt);
        return ctx.attempt;
      });
      await worker.start();
      await expect(client.result(run.id)).resolves.toBe(4);
      expect(seen).toEqual([4]);
      const done = await runRow(h, run.id);
      expect(done).toMatchObject({ status: 'COMPLETED', attempt: 4, claims: 4 });
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('orphan_with_exhausted_retries_fails', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      const run = await client.start('job', undefined, { queue, retry: { maxAttempts: 2, initialIntervalMs: 100 } });
      const single = await client.start('job', undefined, { queue, retry: { maxAttempts: 1 } });

      // maxAttempts 2: the first loss retries, the second fails the run for good.
      const claims = await silent.claimMany(2);
      expect(new Set(claims.map((t) => t.runId))).toEqual(new Set([run.id, single.id]));
      const retried = await waitRecovered(h, run.id);
      expect(retried).toMatchObject({ status: 'PENDING', attempt: 2 });
      // maxAttempts 1 (no retry, distinct from "unset"): the first loss is final.
      const singleFailed = await waitRecovered(h, single.id);
      expect(singleFailed).toMatchObject({ status: 'FAILED', attempt: 1, error_type: 'LEASE_LOST' });
      expect(singleFailed.error_message).toMatch(/lease lost 1 time.*attempts exhausted/);

      const second = await silent.claim();
      expect(second).toMatchObject({ runId: run.id, attempt: 2 });
      const failed = await waitRecovered(h, run.id);
      expect(failed.status).toBe('FAILED');
      expect(failed.error_type).toBe('LEASE_LOST');
      expect(failed.error_message).toMatch(/lease lost 2 times/);
      expect(failed.error_message).toMatch(/attempts exhausted/);
      expect(failed.error_non_retryable).toBe(true);
      expect(failed.attempt).toBe(2);
      expect(failed.claims).toBe(2);
      expect(failed.locked_by).toBeNull();
      expect(failed.finished_at).toBeInstanceOf(Date);

      // Waiters learn at once; the caller sees why.
      const err = await client.result(run.id, { timeout: '5s' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).message).toMatch(/lease lost 2 times/);
      expect((err as WorkflowFailedError).errorType).toBe('LEASE_LOST');

      // No infinite loop: nothing is claimable, and the failed run never changes again.
      expect(await silent.poll()).toBeNull();
      const settled = await runRow(h, run.id);
      expect(settled.status).toBe('FAILED');
      expect(settled.updated_at.getTime()).toBe(failed.updated_at.getTime());
      expect(settled.claims).toBe(2);
      expect(await trueQueueCounts(h, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
      expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 0 });
      await silent.deregister();
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });
});
