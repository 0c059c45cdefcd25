import { TestHarness, deferred, waitFor } from '../index';
import { WorkflowFailedError } from '@baton/sdk';
import { expectNoOwnerlessRunningRuns, trueQueueCounts } from '../harness/assertions';
import { SilentWorker } from '../harness/silent-worker';

const WATCHDOG_MS = 1_000;

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]);
  return row!;
}

/** FAILED with DEADLINE_EXCEEDED, at or after its deadline (never early), nothing retried. */
async function expectDeadlineFailure(h: TestHarness, id: string) {
  const row = await runRow(h, id);
  expect(row.status).toBe('FAILED');
  expect(row.error_type).toBe('DEADLINE_EXCEEDED');
  expect(row.error_message).toMatch(/deadline/);
  expect(row.deadline_at).toBeInstanceOf(Date);
  expect(row.finished_at.getTime()).toBeGreaterThanOrEqual(row.deadline_at.getTime());
  expect(row.attempt).toBe(1);
  expect(row.locked_by).toBeNull();
  return row;
}

describe('2. Workflow execution: deadlines', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ watchdogIntervalSecs: WATCHDOG_MS / 1000 });
  });

  afterAll(() => h?.stop());

  describe('2.2 failure handling', () => {
    test('workflow_timeout_triggers_failure', async () => {
      const queue = h.unique();
      const client = h.client();
      const never = deferred();
      const aborts: string[] = [];
      let stubbornStarted = 0;
      const worker = h.worker({ queue });
      // Ignores time and the signal altogether.
      worker.register('stubborn', async () => {
        stubbornStarted++;
        await never.promise;
        return 'too late';
      });
      // Waits on ctx.signal, as well-behaved code does.
      worker.register('listener', async (ctx) => {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => {
            aborts.push((ctx.signal.reason as Error).name);
            reject(ctx.signal.reason);
          }),
        );
        return 'unreachable';
      });
      worker.register('sleeper', async (ctx) => {
        await ctx.sleep('long', '1h');
        return 'unreachable';
      });
      worker.register('quick', async () => 'in time');
      await worker.start();

      try {
        const retry = { maxAttempts: 3, initialIntervalMs: 100 }; // a deadline is final: no retry
        const stubborn = await client.start('stubborn', undefined, { queue, timeout: '1500ms', retry });
        const listener = await client.start('listener', undefined, { queue, timeout: 1_500, retry });
        const sleeper = await client.start('sleeper', undefined, { queue, timeout: '1500ms', retry });
        const quick = await client.start('quick', undefined, { queue, timeout: '10s' });
        // No worker serves this queue: the run is still PENDING when its deadline passes.
        const idleQueue = h.unique();
        const pending = await client.start('stubborn', undefined, { queue: idleQueue, timeout: '1s', retry });

        for (const run of [stubborn, listener, sleeper, pending]) {
          const err = await client.result(run.id, { timeout: '15s' }).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(WorkflowFailedError);
          expect((err as WorkflowFailedError).errorType).toBe('DEADLINE_EXCEEDED');
          await expectDeadlineFailure(h, run.id);
        }
        await expect(client.result(quick.id)).resolves.toBe('in time');

        // The hung handler no longer holds a slot; the listening one was aborted through ctx.signal.
        expect(stubbornStarted).toBe(1);
        await waitFor(() => worker.activeCount === 0, 'the worker to let go of timed-out runs');
        expect(aborts).toEqual(['DeadlineExceededError']);
        expect((await runRow(h, stubborn.id)).claims).toBe(1);
        expect((await runRow(h, listener.id)).claims).toBe(1);
        const slept = await runRow(h, sleeper.id);
        expect(slept.wake_up_at).toBeNull();

        // The PENDING run was failed by the watchdog within one pass of its deadline, never claimed …
        const idle = await runRow(h, pending.id);
        expect(idle.started_at).toBeNull();
        expect(idle.claims).toBe(0);
        expect(idle.finished_at.getTime() - idle.deadline_at.getTime()).toBeLessThan(WATCHDOG_MS + 1_500);
        // … and a worker arriving later is not handed it.
        const late = await SilentWorker.register(h, { queue: idleQueue, workflowTypes: ['stubborn'] });
        expect(await late.poll()).toBeNull();
        await late.deregister();

        for (const q of [queue, idleQueue]) {
          expect(await trueQueueCounts(h, q)).toEqual({ pending: 0, running: 0, sleeping: 0 });
          expect(await client.queueStats(q)).toMatchObject({ pending: 0, running: 0, sleeping: 0 });
        }
      } finally {
        never.resolve();
      }
      await expectNoOwnerlessRunningRuns(h, { queue });
    });
  });
});
