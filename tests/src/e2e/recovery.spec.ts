import { TestHarness, waitFor } from '../index';
import { WorkflowFailedError } from '@baton/sdk';
import { expectNoOwnerlessRunningRuns, trueQueueCounts } from '../harness/assertions';
import { SilentWorker } from '../harness/silent-worker';

const LEASE_MS = 1_000;
const WATCHDOG_MS = 1_000;
// Recoveries have their own budget and backoff, apart from the retry policy (invariant 8).
const RECOVERY_LIMIT = 3;
const RECOVERY_BACKOFF_MS = 2_500;
const RECOVERY_BACKOFF_MAX_MS = 5_000;

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
      overrides: {
        claimAckTimeoutMs: LEASE_MS,
        recoveryLimit: RECOVERY_LIMIT,
        recoveryBackoffMs: RECOVERY_BACKOFF_MS,
        recoveryBackoffMaxMs: RECOVERY_BACKOFF_MAX_MS,
      },
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
      // A recovery, not a failure: counted apart, and no error is invented for the run.
      expect(recovered.recoveries).toBe(1);
      expect(recovered.last_recovery_reason).toBe('lease expired');
      expect(recovered.error_type).toBeNull();
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
        // The first run is claimable again too (a first recovery has no backoff): take both.
        const both = await silent.claimMany(2);
        expect(new Set(both.map((t) => t.runId))).toEqual(new Set([run.id, stuck]));
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
      expect(later).toMatchObject({
        status: 'PENDING',
        attempt: 2,
        recoveries: 1,
        last_recovery_reason: 'lease expired',
      });
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
      // The first run lost its lease twice, the other once.
      expect(attempts.sort()).toEqual([2, 3]);
      expect(await runRow(h, run.id)).toMatchObject({ status: 'COMPLETED', attempt: 3, recoveries: 2 });
      expect(await trueQueueCounts(h, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('orphaned_workflow_rescheduled_with_backoff', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      // The run's own policy (no retry, 100 ms) plays no part: recoveries back off by the recovery settings.
      const run = await client.start('job', undefined, {
        queue,
        retry: { maxAttempts: 1, initialIntervalMs: 100, backoffCoefficient: 2 },
      });

      // First loss: claimable again at once (a crashed worker's run should not wait).
      await silent.claim();
      const first = await waitRecovered(h, run.id);
      expect(first.status).toBe('PENDING');
      expect(Number(first.backoff_ms)).toBe(0);
      expect(first).toMatchObject({ recoveries: 1, last_recovery_reason: 'lease expired', error_message: null });
      const again = await silent.claim();
      expect(again.attempt).toBe(2);
      const reclaimed = await runRow(h, run.id);
      // The claim's now() is locked_until − lease: never before available_at.
      expect(reclaimed.locked_until.getTime() - LEASE_MS).toBeGreaterThanOrEqual(reclaimed.available_at.getTime());

      // Second loss: the recovery backoff (2.5 s), which doubles from there up to its cap.
      const second = await waitRecovered(h, run.id);
      expect(second.status).toBe('PENDING');
      expect(second.attempt).toBe(3);
      expect(Number(second.backoff_ms)).toBe(RECOVERY_BACKOFF_MS);
      // A poll that ends before the backoff is over gets nothing (poll timeout 2 s < 2.5 s).
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
      // maxAttempts 1: recoveries never spend the retry policy, so three losses still leave it whole.
      const run = await client.start('job', undefined, { queue, retry: { maxAttempts: 1 } });

      // Three lost leases in a row: attempt goes up by exactly one each time.
      for (const expected of [1, 2, 3]) {
        const task = await silent.claim();
        expect(task.runId).toBe(run.id);
        expect(task.attempt).toBe(expected);
        const recovered = await waitRecovered(h, run.id);
        expect(recovered.status).toBe('PENDING');
        expect(recovered.attempt).toBe(expected + 1);
        expect(recovered.recoveries).toBe(expected);
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
      expect(done).toMatchObject({ status: 'COMPLETED', attempt: 4, recoveries: 3, claims: 4 });
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('orphan_with_exhausted_retries_fails', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      // A run whose first attempt fails for real (its policy allows a second), so it has a real error to keep.
      const real = await client.start('job', undefined, { queue, retry: { maxAttempts: 2, initialIntervalMs: 100 } });
      // The retry policy allows one attempt only: the recovery budget, not the policy, ends the loop.
      const run = await client.start('job', undefined, { queue, retry: { maxAttempts: 1 } });
      const realTask = await silent.claim();
      expect(realTask.runId).toBe(real.id);
      await h
        .http()
        .post(`/v1/namespaces/default/workflows/${real.id}/fail`)
        .send({
          ...silent.lease(realTask),
          error: { message: 'card declined', type: 'Declined' },
        })
        .expect(200);

      // RECOVERY_LIMIT losses are recovered, the next one fails the run for good.
      const lostRuns = new Map<string, number>();
      for (let loss = 1; loss <= RECOVERY_LIMIT + 1; loss++) {
        const tasks = await silent.claimMany(2);
        expect(new Set(tasks.map((t) => t.runId))).toEqual(new Set([run.id, real.id]));
        for (const task of tasks) lostRuns.set(task.runId, task.attempt);
        await Promise.all([waitRecovered(h, run.id), waitRecovered(h, real.id)]);
        if (loss <= RECOVERY_LIMIT) {
          expect(await runRow(h, run.id)).toMatchObject({ status: 'PENDING', recoveries: loss, attempt: loss + 1 });
        }
      }
      const failed = await runRow(h, run.id);
      expect(failed.status).toBe('FAILED');
      expect(failed.error_type).toBe('LEASE_LOST');
      expect(failed.error_message).toBe(
        `lease lost ${RECOVERY_LIMIT + 1} times (last: lease expired): recovery limit of ${RECOVERY_LIMIT} reached`,
      );
      expect(failed.error_non_retryable).toBe(true);
      expect(failed.recoveries).toBe(RECOVERY_LIMIT);
      expect(failed.attempt).toBe(RECOVERY_LIMIT + 1);
      expect(failed.claims).toBe(RECOVERY_LIMIT + 1);
      expect(failed.locked_by).toBeNull();
      expect(failed.finished_at).toBeInstanceOf(Date);

      // The run that had failed for real before keeps its last real error, and the true counts.
      const realFailed = await runRow(h, real.id);
      expect(realFailed.status).toBe('FAILED');
      expect(realFailed.error_message).toBe(
        `lease lost ${RECOVERY_LIMIT + 1} times (last: lease expired): recovery limit of ${RECOVERY_LIMIT} reached; last error: card declined`,
      );
      expect(realFailed.attempt - realFailed.recoveries).toBe(2);

      // Waiters learn at once; the caller sees why.
      const err = await client.result(run.id, { timeout: '5s' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).message).toMatch(/lease lost 4 times/);
      expect((err as WorkflowFailedError).errorType).toBe('LEASE_LOST');

      // No infinite loop: nothing is claimable, and the failed run never changes again.
      expect(await silent.poll()).toBeNull();
      const settled = await runRow(h, run.id);
      expect(settled.status).toBe('FAILED');
      expect(settled.updated_at.getTime()).toBe(failed.updated_at.getTime());
      expect(settled.claims).toBe(RECOVERY_LIMIT + 1);
      expect(await trueQueueCounts(h, queue)).toEqual({ pending: 0, running: 0, sleeping: 0 });
      expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 0 });
      await silent.deregister();
      await expectNoOwnerlessRunningRuns(h, { queue });
    });

    test('undelivered claim comes back at its acknowledgement timeout and costs nothing', async () => {
      const queue = h.unique();
      const client = h.client();
      const silent = await SilentWorker.register(h, { queue, workflowTypes: ['job'] });
      const run = await client.start('job', undefined, { queue, retry: { maxAttempts: 1 } });

      // Claimed but never acknowledged (the reply was lost): the short first lease runs out.
      for (let round = 1; round <= RECOVERY_LIMIT + 2; round++) {
        const task = await silent.claim(15_000, { acknowledge: false });
        expect(task).toMatchObject({ runId: run.id, attempt: 1 });
        const claimed = await runRow(h, run.id);
        expect(claimed.delivered).toBe(false);
        const back = await waitRecovered(h, run.id);
        // Free: no attempt, no recovery, no backoff, whatever the budget.
        expect(back).toMatchObject({ status: 'PENDING', attempt: 1, recoveries: 0, claims: round });
        expect(back.available_at.getTime()).toBeLessThanOrEqual(back.updated_at.getTime());
      }

      // Acknowledged (a heartbeat naming it), the claim counts as delivered.
      const task = await silent.claim();
      const held = await runRow(h, run.id);
      expect(held.delivered).toBe(true);
      await silent.completeWorkflow(task, 'ok').expect(200);
      await expect(client.result(run.id)).resolves.toBe('ok');
      await silent.deregister();
    });
  });
});
