import { Sql, TimeSkipRepository, createDataSource } from '@baton/persistence';
import { WorkflowFailedError } from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';
import { TestEnvironment } from '@baton/testing';
import { Client as PgClient } from 'pg';
import { deferred, waitFor } from '../index';
import { POSTGRES_ADMIN_URL } from '../harness/services';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;
/**
 * A generous bound on a test that sleeps a day: it proves the day was
 * skipped, not how fast the machine is (a real day would never fit).
 */
const WALL_CLOCK_BOUND_MS = 60_000;

/** The test kit as a user runs it, here on the suite's PostgreSQL (a database of its own, dropped on stop). */
describe('@baton/testing: TestEnvironment with time skipping', () => {
  let env: TestEnvironment;
  let queues = 0;
  const queue = () => `kit-${++queues}`;

  beforeAll(async () => {
    env = await TestEnvironment.start({ databaseUrl: POSTGRES_ADMIN_URL });
  }, 60_000);

  afterAll(() => env?.stop());

  test('test_env_skips_a_day_of_sleep', async () => {
    const startedAt = Date.now();
    const virtualStart = env.now().getTime();
    const calls = { handler: 0, greet: 0, followUp: 0 };
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        daily: async (ctx: WorkflowContext, name: string) => {
          calls.handler++;
          const greeting = await ctx.step('greet', () => {
            calls.greet++;
            return `hello ${name}`;
          });
          await ctx.sleep('day', '24h');
          return ctx.step('follow-up', () => {
            calls.followUp++;
            return `${greeting}, a day later`;
          });
        },
      },
    });

    const run = await env.client.start('daily', 'ada', { queue: q });
    await expect(env.client.result(run.id)).resolves.toBe('hello ada, a day later');

    const view = await env.client.get(run.id);
    expect(view.status).toBe('COMPLETED');
    expect(view.output).toBe('hello ada, a day later');
    const steps = await env.client.steps(run.id);
    expect(steps.map((s) => [s.stepId, s.kind, s.status])).toEqual([
      ['greet', 'FUNCTION', 'COMPLETED'],
      ['day', 'SLEEP', 'COMPLETED'],
      ['follow-up', 'FUNCTION', 'COMPLETED'],
    ]);
    // Woken by the server and replayed: the step before the sleep came from its record, not a second run.
    expect(calls).toEqual({ handler: 2, greet: 1, followUp: 1 });
    expect(env.now().getTime() - virtualStart).toBeGreaterThanOrEqual(DAY_MS);
    expect(Date.now() - startedAt).toBeLessThan(WALL_CLOCK_BOUND_MS);
  });

  test('test_env_deadline_moves_with_skipped_time', async () => {
    const virtualStart = env.now().getTime();
    let woke = false;
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        overslept: async (ctx: WorkflowContext) => {
          await ctx.sleep('nap', '2h');
          woke = true;
          return 'woke';
        },
      },
    });

    const run = await env.client.start('overslept', undefined, { queue: q, timeout: '1h' });
    const failure = await env.client.result(run.id).then(
      () => null,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).errorType).toBe('DEADLINE_EXCEEDED');

    // The clock stopped at the deadline (1 h), not at the end of the nap (2 h): the deadline moved with it.
    const skipped = env.now().getTime() - virtualStart;
    expect(skipped).toBeGreaterThanOrEqual(HOUR_MS);
    expect(skipped).toBeLessThan(2 * HOUR_MS);
    expect(woke).toBe(false);
    const [nap] = await env.client.steps(run.id);
    expect(nap).toMatchObject({ stepId: 'nap', kind: 'SLEEP' });
    expect(nap!.status).not.toBe('COMPLETED');
  });

  test('test_env_skip_time_moves_a_sleeper_on_demand', async () => {
    let woke = false;
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        napper: async (ctx: WorkflowContext) => {
          await ctx.sleep('nap', '3h');
          woke = true;
          return 'rested';
        },
      },
    });
    const run = await env.client.start('napper', undefined, { queue: q });
    // client.get never skips time: only result() and waitForTerminal() do.
    await waitFor(async () => (await env.client.get(run.id)).status === 'SLEEPING', 'the run to sleep');

    const before = env.now().getTime();
    await env.skipTime('2h');
    expect(env.now().getTime() - before).toBeGreaterThanOrEqual(2 * HOUR_MS);
    // Two of three hours: still asleep (the watchdog and matching were told to look again, and found nothing due).
    const asleep = await env.client.get(run.id);
    expect(asleep.status).toBe('SLEEPING');
    expect(asleep.wakeUpAt!.getTime()).toBeGreaterThan(Date.now());

    await env.skipTime('1h');
    await waitFor(async () => (await env.client.get(run.id)).status === 'COMPLETED', 'the run to wake and finish');
    expect(woke).toBe(true);
    expect((await env.client.get(run.id)).output).toBe('rested');
  });
  test('test_env_week_long_signal_wait_times_out_with_null', async () => {
    const virtualStart = env.now().getTime();
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        approval: async (ctx: WorkflowContext) => ({
          decision: await ctx.waitForSignal('approve', { timeout: '7d' }),
        }),
      },
    });
    const run = await env.client.start('approval', undefined, { queue: q });
    await expect(env.client.result(run.id)).resolves.toEqual({ decision: null });
    // One week, not two: the replayed wait found its (moved) timeout passed instead of waiting a week again.
    const skipped = env.now().getTime() - virtualStart;
    expect(skipped).toBeGreaterThanOrEqual(WEEK_MS);
    expect(skipped).toBeLessThan(2 * WEEK_MS);
  });

  test('test_env_signal_within_skipped_week_is_delivered', async () => {
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        approval: async (ctx: WorkflowContext) => ({
          decision: await ctx.waitForSignal('approve', { timeout: '7d' }),
        }),
      },
    });
    const run = await env.client.start('approval', undefined, { queue: q });
    await waitFor(async () => (await env.client.get(run.id)).status === 'SLEEPING', 'the run to wait for its signal');
    // Three days into the week the signal comes: the wait, its deadline moved with the clock, takes it.
    await env.skipTime('3d');
    await env.client.signal(run.id, 'approve', 'yes');
    await expect(env.client.result(run.id)).resolves.toEqual({ decision: 'yes' });
  });

  test('test_env_does_not_skip_while_a_run_is_running', async () => {
    const gate = deferred();
    const holding = deferred();
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        blocker: async (ctx: WorkflowContext) =>
          ctx.step('hold', async () => {
            holding.resolve();
            await gate.promise;
            return 'released';
          }),
        sleeper: async (ctx: WorkflowContext) => {
          await ctx.sleep('nap', '1h');
          return 'woke';
        },
      },
    });
    const blocker = await env.client.start('blocker', undefined, { queue: q });
    await holding.promise;
    const sleeper = await env.client.start('sleeper', undefined, { queue: q });
    await waitFor(async () => (await env.client.get(sleeper.id)).status === 'SLEEPING', 'the sleeper to sleep');
    const { wakeUpAt } = await env.client.get(sleeper.id);

    // The statement auto-skipping runs, asked directly: a RUNNING run means time must not jump.
    const dataSource = createDataSource({ url: env.databaseUrl, poolSize: 1 });
    await dataSource.initialize();
    try {
      expect(await new TimeSkipRepository(new Sql(dataSource)).skipToNextDue()).toBeNull();
    } finally {
      await dataSource.destroy();
    }
    expect((await env.client.get(sleeper.id)).wakeUpAt).toEqual(wakeUpAt);

    gate.resolve();
    await expect(env.client.result(blocker.id)).resolves.toBe('released');
    await expect(env.client.result(sleeper.id)).resolves.toBe('woke');
  });

  test('test_env_unserved_run_does_not_hold_the_clock', async () => {
    const q = queue();
    await env.worker({
      queue: q,
      workflows: {
        sleeper: async (ctx: WorkflowContext) => {
          await ctx.sleep('nap', '6h');
          return 'woke';
        },
      },
    });
    // Claimable now, but no worker serves its type: waiting on it would stop the clock for ever.
    const unserved = await env.client.start('nobody-runs-this', undefined, { queue: q });
    const run = await env.client.start('sleeper', undefined, { queue: q });
    await expect(env.client.result(run.id)).resolves.toBe('woke');
    expect((await env.client.get(unserved.id)).status).toBe('PENDING');
    await env.client.cancel(unserved.id);
  });

  test('test_env_skip_moves_only_future_due_times', async () => {
    const SKIP_MS = 30 * 60 * 1000;
    const schedule = await env.client.schedules.create({
      scheduleId: 'yearly',
      workflowType: 'never-fired',
      queue: 'nobody',
      cron: '0 0 1 1 *',
    });
    const db = new PgClient({ connectionString: env.databaseUrl });
    await db.connect();
    try {
      // A run parked until woken, a run due in 1 h with a 3 h deadline and a retrying step, a finished run.
      const { rows: runs } = await db.query<{ id: string; workflow_type: string }>(`
        INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, available_at, wake_up_at, deadline_at)
        VALUES (gen_random_uuid(), 'sql-only', 'nobody', 'parked', 'SLEEPING', 'infinity', 'infinity', NULL),
               (gen_random_uuid(), 'sql-only', 'nobody', 'later', 'PENDING', now() + interval '1 hour', NULL,
                now() + interval '3 hours'),
               (gen_random_uuid(), 'sql-only', 'nobody', 'done', 'COMPLETED', now() + interval '1 hour', NULL,
                now() + interval '3 hours')
        RETURNING id, workflow_type`);
      const id = (type: string) => runs.find((r) => r.workflow_type === type)!.id;
      await db.query(
        `INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, retry_at, wake_up_at)
         VALUES ($1, 'flaky', 0, 'FUNCTION', 'FAILED', 1, now() + interval '1 hour', NULL),
                ($1, 'slept', 1, 'SLEEP', 'RUNNING', 1, NULL, now() - interval '1 hour')`,
        [id('later')],
      );
      const read = async () => {
        const { rows } = await db.query(
          `SELECT workflow_type, available_at = 'infinity' AS parked, available_at, deadline_at, created_at
           FROM workflow_runs WHERE namespace = 'sql-only'`,
        );
        const { rows: steps } = await db.query(
          `SELECT step_id, retry_at, wake_up_at FROM step_runs WHERE run_id = $1`,
          [id('later')],
        );
        const byType = Object.fromEntries(rows.map((r) => [r.workflow_type, r]));
        const byStep = Object.fromEntries(steps.map((r) => [r.step_id, r]));
        return { runs: byType, steps: byStep, nextFireAt: (await env.client.schedules.get('yearly')).nextFireAt! };
      };
      const ms = (d: Date) => d.getTime();

      const before = await read();
      await env.skipTime(SKIP_MS);
      const after = await read();

      expect(ms(before.runs.later.available_at) - ms(after.runs.later.available_at)).toBe(SKIP_MS);
      expect(ms(before.runs.later.deadline_at) - ms(after.runs.later.deadline_at)).toBe(SKIP_MS);
      expect(ms(before.steps.flaky.retry_at) - ms(after.steps.flaky.retry_at)).toBe(SKIP_MS);
      expect(ms(before.nextFireAt) - ms(after.nextFireAt)).toBe(SKIP_MS);
      expect(ms(after.nextFireAt)).toBe(ms(schedule.nextFireAt!) - SKIP_MS);
      // Past times, parked runs and finished runs stay as they were.
      expect(after.runs.later.created_at).toEqual(before.runs.later.created_at);
      expect(after.steps.slept.wake_up_at).toEqual(before.steps.slept.wake_up_at);
      expect(after.runs.parked.parked).toBe(true);
      expect(after.runs.done.available_at).toEqual(before.runs.done.available_at);
      expect(after.runs.done.deadline_at).toEqual(before.runs.done.deadline_at);
    } finally {
      await db.query(`DELETE FROM workflow_runs WHERE namespace = 'sql-only'`);
      await db.end();
      await env.client.schedules.delete('yearly');
    }
  });
});
