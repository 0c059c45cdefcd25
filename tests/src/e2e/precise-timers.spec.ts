import { TIMERS } from '@baton/contracts';
import { DueTimesRepository, Sql, createDataSource } from '@baton/persistence';
import { TestHarness, deferred, waitFor } from '../index';
import { ProtocolWorker, pollAs } from '../harness/protocol-worker';
import type { PolledTask } from '../harness/protocol-worker';

/*
 * Precise timers (docs/architecture.md): due sleepers, deadlines, cron fires
 * and parked runs are acted on at their due time, not on a periodic tick.
 * Every periodic path here is 60 s (watchdog, scheduler, matching fallback),
 * so a test that finishes within its 10 s deadline was served by a timer.
 * "Never early" is checked against the stored due time, to the millisecond.
 */

const TIMER_DEADLINE_MS = 10_000;

describe('precise timers (every periodic interval 60 s)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({ watchdogIntervalSecs: 60, schedulerIntervalSecs: 60, matchingFallbackSecs: 60 });
  });

  afterAll(async () => {
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  const runRow = async (id: string) => (await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]))[0]!;

  const post = (path: string, body: object) => h.http().post(`/v1/namespaces/default${path}`).send(body);

  /** A protocol worker holding a freshly started run of `type` on a new queue. */
  async function claimOne(type: string, options: { retry?: { maxAttempts: number; initialIntervalMs: number } } = {}) {
    const queue = h.unique();
    const worker = await ProtocolWorker.register(h, { queue, workflowTypes: [type] });
    const run = await h.client().start(type, null, { queue, ...(options.retry ? { retry: options.retry } : {}) });
    const task = await worker.pollUntilTask();
    expect(task.runId).toBe(run.id);
    return { queue, worker, task };
  }

  const lease = (worker: ProtocolWorker, task: PolledTask) => ({
    workerId: worker.id,
    leaseEpoch: task.leaseEpoch,
    leaseToken: task.leaseToken,
  });

  async function sleepVia(worker: ProtocolWorker, task: PolledTask, durationMs: number): Promise<number> {
    const res = await post(`/workflows/${task.runId}/sleep`, {
      ...lease(worker, task),
      stepId: 'nap',
      seq: 0,
      durationMs,
    });
    expect(res.status).toBe(200);
    return Date.parse(res.body.wakeUpAt);
  }

  /** Polls as `worker` until it is handed `runId`; returns the wall clock when the task arrived. */
  async function receive(worker: ProtocolWorker, runId: string): Promise<number> {
    const task = await worker.pollUntilTask(TIMER_DEADLINE_MS);
    const at = Date.now();
    expect(task.runId).toBe(runId);
    return at;
  }

  test('the watchdog wakes a sleeper nobody claimed at its wake time plus the grace it leaves matching, armed by the sleep event', async () => {
    const { worker, task } = await claimOne('nap');
    const wakeUpAt = await sleepVia(worker, task, 1_500);
    // Nobody polls: only the watchdog can move it, and only its timer within the deadline.
    const woken = await waitFor(
      async () => {
        const row = await runRow(task.runId);
        return row.status === 'PENDING' ? row : null;
      },
      'the sleeper to be woken',
      { timeoutMs: TIMER_DEADLINE_MS },
    );
    // Not before the grace had passed, by the database's clock (a worker polling then would have got it from matching).
    const [check] = await h.query(
      `SELECT updated_at >= wake_up_at + $2::int * interval '1 millisecond' AS after_grace FROM workflow_runs WHERE id = $1`,
      [task.runId, TIMERS.sleeperWakeGraceMs],
    );
    expect(check).toEqual({ after_grace: true });
    expect(woken.wake_up_at.getTime()).toBe(wakeUpAt);
  });

  test('the due-time reads count a run that came due within their look-back as due now, and nothing before it', async () => {
    const dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 2 });
    await dataSource.initialize();
    const dueTimes = new DueTimesRepository(new Sql(dataSource));
    try {
      // A parked run nobody polls for, made due 2 s ago (the database's clock).
      const queue = h.unique();
      const run = await h.client().start('parked', null, { queue });
      await h.query(`UPDATE workflow_runs SET available_at = now() - interval '2 seconds' WHERE id = $1`, [run.id]);
      // Matching's read after a claim round of 5 s: the run came due during the round, so it is due now.
      const inRound = await dueTimes.nextAvailable('default', queue, 5_000);
      expect(inRound).not.toBeNull();
      expect(inRound!).toBeLessThanOrEqual(-2_000);
      // After a round of 1 s it was due before the round began: the round's to claim, not looked at again.
      expect(await dueTimes.nextAvailable('default', queue, 1_000)).toBeNull();
      expect(await dueTimes.nextAvailable('default', queue)).toBeNull();

      // The watchdog's next pass for a sleeper that came due less than the grace ago: when the grace has passed.
      const { worker, task } = await claimOne('nap');
      await sleepVia(worker, task, 60_000);
      const grace = TIMERS.sleeperWakeGraceMs;
      await h.query(
        `UPDATE workflow_runs SET wake_up_at = now() - $2::int * interval '1 millisecond', available_at = now() - $2::int * interval '1 millisecond' WHERE id = $1`,
        [task.runId, Math.floor(grace / 2)],
      );
      const pass = await dueTimes.nextWake(grace);
      expect(pass).not.toBeNull();
      expect(pass!).toBeGreaterThan(0);
      expect(pass!).toBeLessThanOrEqual(grace - Math.floor(grace / 2));
    } finally {
      await dataSource.destroy();
    }
  });

  test('the watchdog reads the next wake time from the database when it starts (no event heard)', async () => {
    const { worker, task } = await claimOne('nap');
    await h.stopApp('watchdog');
    try {
      await sleepVia(worker, task, 2_000);
    } finally {
      await h.startApp('watchdog');
    }
    await waitFor(async () => (await runRow(task.runId)).status === 'PENDING', 'the sleeper to be woken', {
      timeoutMs: TIMER_DEADLINE_MS,
    });
    const [check] = await h.query(`SELECT updated_at >= wake_up_at AS on_time FROM workflow_runs WHERE id = $1`, [
      task.runId,
    ]);
    expect(check).toEqual({ on_time: true });
  });

  test('matching claims a due sleeper on its own timer (no watchdog at all)', async () => {
    const queue = h.unique();
    const afterSleep = deferred<number>();
    const worker = h.worker({ queue });
    worker.register('napper', async (ctx) => {
      await ctx.sleep('nap', 1_500);
      afterSleep.resolve(Date.now());
      return 'rested';
    });
    await h.stopApp('watchdog');
    try {
      await worker.start();
      const run = await h.client().start('napper', null, { queue });
      await expect(h.client().result(run.id, { timeout: TIMER_DEADLINE_MS })).resolves.toBe('rested');
      const [step] = await h.query(`SELECT wake_up_at FROM step_runs WHERE run_id = $1 AND step_id = 'nap'`, [run.id]);
      expect(await afterSleep.promise).toBeGreaterThanOrEqual(step!.wake_up_at.getTime());
    } finally {
      await worker.stop();
      await h.startApp('watchdog');
    }
  });

  test('a step retry is handed out at its retry_at, not before', async () => {
    const { worker, task } = await claimOne('flaky');
    const failed = await post(`/workflows/${task.runId}/steps/s1/fail`, {
      ...lease(worker, task),
      seq: 0,
      error: { message: 'boom' },
      retry: { maxAttempts: 2, initialIntervalMs: 1_000 },
    });
    expect(failed.body).toMatchObject({ willRetry: true });
    const retryAt = Date.parse(failed.body.retryAt);
    // Its polls arrive while the queue holds nothing claimable: only the due time rings it.
    expect(await receive(worker, task.runId)).toBeGreaterThanOrEqual(retryAt);
    expect((await runRow(task.runId)).available_at.getTime()).toBe(retryAt);
  });

  test('a workflow retry is handed out at its available_at, not before', async () => {
    const { worker, task } = await claimOne('fragile', { retry: { maxAttempts: 2, initialIntervalMs: 1_000 } });
    const failed = await post(`/workflows/${task.runId}/fail`, { ...lease(worker, task), error: { message: 'boom' } });
    expect(failed.body).toMatchObject({ status: 'PENDING', willRetry: true });
    expect(await receive(worker, task.runId)).toBeGreaterThanOrEqual(Date.parse(failed.body.retryAt));
  });

  test('matching reads when a queue comes due again when it starts (the "work due" event was lost)', async () => {
    const { worker, task } = await claimOne('flaky');
    await h.stopApp('matching');
    let retryAt: number;
    try {
      const failed = await post(`/workflows/${task.runId}/steps/s1/fail`, {
        ...lease(worker, task),
        seq: 0,
        error: { message: 'boom' },
        retry: { maxAttempts: 2, initialIntervalMs: 2_000 },
      });
      retryAt = Date.parse(failed.body.retryAt);
    } finally {
      await h.startApp('matching');
    }
    expect(await receive(worker, task.runId)).toBeGreaterThanOrEqual(retryAt);
  });

  test('a recovered run parked for its recovery backoff is handed out at its available_at', async () => {
    const { queue, worker, task } = await claimOne('lost');
    expect((await worker.heartbeat([task.runId])).status).toBe(200);
    const taker = (await ProtocolWorker.register(h, { queue, workflowTypes: ['lost'] })).keepAlive();
    // A lease counts as lost only once workers have had a whole lease period of reachable frontends.
    await waitFor(
      async () =>
        (
          await h.query(
            `SELECT 1 FROM service_pulses WHERE kind = 'frontend' AND up_since < now() - $1 * interval '1 ms'`,
            [h.config.leaseDurationMs],
          )
        ).length > 0,
      'the frontend to have been up for a lease period',
    );
    // Already waiting (on a queue with nothing claimable) when the run is recovered.
    const received = receive(taker, task.runId);
    received.catch(() => undefined); // awaited below; a failure before that must not go unhandled
    await h.stopApp('watchdog');
    try {
      // As if recovered once already (the next recovery waits out the backoff), and its lease gone.
      await h.query(
        `UPDATE workflow_runs SET attempt = attempt + 1, recoveries = 1, locked_until = now() - interval '1 second'
         WHERE id = $1`,
        [task.runId],
      );
    } finally {
      // Its first pass recovers the run; the 60 s interval never comes round again in this test.
      await h.startApp('watchdog');
    }
    const parked = await waitFor(
      async () => {
        const row = await runRow(task.runId);
        return row.status === 'PENDING' ? row : null;
      },
      'the run to be recovered',
      { timeoutMs: TIMER_DEADLINE_MS },
    );
    expect(parked.recoveries).toBe(2);
    expect(parked.available_at.getTime()).toBeGreaterThan(parked.updated_at.getTime());
    expect(await received).toBeGreaterThanOrEqual(parked.available_at.getTime());
  });

  test('a run past its deadline fails at the deadline, not before', async () => {
    const queue = h.unique();
    const run = await h.client().start('unclaimed', null, { queue, timeout: 1_500 });
    const failed = await waitFor(
      async () => {
        const row = await runRow(run.id);
        return row.status === 'FAILED' ? row : null;
      },
      'the run to fail at its deadline',
      { timeoutMs: TIMER_DEADLINE_MS },
    );
    expect(failed.error_type).toBe('DEADLINE_EXCEEDED');
    const [check] = await h.query(`SELECT finished_at > deadline_at AS after FROM workflow_runs WHERE id = $1`, [
      run.id,
    ]);
    expect(check).toEqual({ after: true });
  });

  test('a cron schedule fires at each fire time: armed by its creation, then by each pass', async () => {
    const client = h.client();
    const scheduleId = h.unique('every-second');
    await client.schedules.create({ scheduleId, workflowType: 'tick', queue: h.unique(), cron: '* * * * * *' });
    try {
      const runs = await waitFor(
        async () => {
          const rows = await h.query(
            `SELECT r.created_at >= r.fire_time AS on_time FROM workflow_runs r JOIN schedules s ON s.id = r.schedule_id
             WHERE s.schedule_id = $1`,
            [scheduleId],
          );
          return rows.length >= 3 ? rows : null;
        },
        'three fires',
        { timeoutMs: TIMER_DEADLINE_MS },
      );
      expect(runs.every((r) => r.on_time)).toBe(true);
    } finally {
      await client.schedules.delete(scheduleId);
    }
  });

  test('a worker at its limits does not make the queue look empty to other workers', async () => {
    const queue = h.unique();
    const client = h.client();
    const busy = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'], maxConcurrent: 1 });
    const first = await client.start('job', 1, { queue });
    expect((await busy.pollUntilTask()).runId).toBe(first.id);
    const second = await client.start('job', 2, { queue });
    // Its poll finds a claimable run it has no room for: a claim that takes nothing, yet the queue is not empty.
    const atLimit = await busy.poll();
    expect(atLimit.task).toBeNull();
    // Had that claim marked the queue empty, nothing would ring it before the 60 s fallback.
    const idle = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
    expect((await idle.pollUntilTask(TIMER_DEADLINE_MS)).runId).toBe(second.id);
  });

  test('matching refuses a worker it has served from memory as soon as it deregisters or drains', async () => {
    for (const drain of [false, true]) {
      const queue = h.unique();
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const run = await h.client().start('job', null, { queue });
      expect((await worker.pollUntilTask()).runId).toBe(run.id);
      expect(await worker.deregister(drain)).toBe(200);
      const refused = await pollAs(h, worker.id, { queue, types: ['job'] });
      expect(refused.status).toBe(409);
      expect(refused.error?.code).toBe('FAILED_PRECONDITION');
    }
  });
});
