import { METRICS, WORKER_METRICS } from '@baton/contracts';
import { NonRetryableError } from '@baton/sdk';
import type { Client, Worker } from '@baton/sdk';
import { ensureNats } from '../harness/services';
import { TcpProxy } from '../harness/tcp-proxy';
import { TestHarness, deferred, waitFor } from '../index';

/** A metric family as parse-prometheus-text-format returns it (prom2json's shape), as read here: series only. */
interface Family {
  name: string;
  type: string;
  metrics: Sample[];
}

interface Sample {
  labels?: Record<string, string>;
  value?: string;
}

// Plain CommonJS without type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const parsePrometheus = require('parse-prometheus-text-format') as (text: string) => Family[];

/**
 * The text parsed twice: as it is, for each family's type (and to check the
 * format: the parser throws on an invalid line); and without the histograms'
 * TYPE lines, so that their _bucket, _sum and _count series come out as
 * plain labelled series. The library (1.1.1, the only one on npm) merges the
 * series of a labelled histogram into one and drops their labels
 * (yunyu/parse-prometheus-text-format#13).
 */
function parseExposition(text: string, contentType: string | null): Scrape {
  const types = new Map(parsePrometheus(text).map((f) => [f.name, f.type]));
  // A histogram's series alternate (each label set's buckets, sum, count): each run of one name is a family.
  const families = new Map<string, Family>();
  for (const family of parsePrometheus(text.replace(/^# TYPE \S+ histogram$/gm, ''))) {
    const seen = families.get(family.name);
    if (seen) seen.metrics.push(...family.metrics);
    else families.set(family.name, family);
  }
  return { contentType, types, families };
}

/** Any run id or worker id (UUIDs) in a label value would make a series per run. */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const ALLOWED_LABELS = new Set(['app', 'namespace', 'queue', 'workflow_type', 'status', 'kind']);
/** Runs of type `ok`, finished together; the worker has room for all of them at once. */
const OK_RUNS = 8;
const SLOTS = 12;

/** One app's /metrics: its Content-Type, each family's type, and every series by name (a histogram's by suffix). */
interface Scrape {
  contentType: string | null;
  types: Map<string, string>;
  families: Map<string, Family>;
}

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  return parseExposition(await res.text(), res.headers.get('content-type'));
}

/**
 * Sum of the values of series `name` whose labels include `labels`; for a
 * histogram, of its observation counts (`name`_count), or with `part` 'sum'
 * of its observed values.
 */
function total(scraped: Scrape, name: string, labels: Record<string, string> = {}, part: 'count' | 'sum' = 'count') {
  const series = scraped.types.get(name) === 'HISTOGRAM' ? `${name}_${part}` : name;
  return (scraped.families.get(series)?.metrics ?? [])
    .filter((m) => Object.entries(labels).every(([key, value]) => m.labels?.[key] === value))
    .reduce((sum, m) => sum + Number(m.value ?? 0), 0);
}

describe('Prometheus metrics', () => {
  let h: TestHarness;
  let client: Client;
  let worker: Worker;
  const apps: Record<string, string> = {};

  beforeAll(async () => {
    h = await TestHarness.start();
    apps.frontend = h.httpUrl;
    apps.matching = `http://127.0.0.1:${h.config.matchingHealthPort}`;
    apps.scheduler = `http://127.0.0.1:${h.config.schedulerHealthPort}`;
    apps.watchdog = `http://127.0.0.1:${h.config.watchdogHealthPort}`;
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('every service serves the run lifecycle, queues, timers and schedules; the worker its own', async () => {
    const ns = h.unique('ns');
    const queue = h.unique('work');
    const backlogQueue = h.unique('backlog');
    const deadlineQueue = h.unique('deadline');
    const cronQueue = h.unique('cron');
    client = h.client(ns);
    worker = h.worker({ namespace: ns, queue, maxConcurrent: SLOTS });
    let flakyCalls = 0;
    // The ok runs return together: their completions travel in one Batch call and share a group commit.
    const together = deferred();
    let waiting = 0;
    worker.register('ok', async (ctx, n: number) => {
      const doubled = await ctx.step('double', () => n * 2);
      if (++waiting === OK_RUNS) together.resolve();
      await together.promise;
      return doubled;
    });
    worker.register('boom', async () => {
      throw new NonRetryableError('boom');
    });
    worker.register('flaky', async (ctx) =>
      ctx.step(
        'call',
        () => {
          if (++flakyCalls === 1) throw new Error('once');
          return 'fine';
        },
        { retry: { maxAttempts: 3, initialIntervalMs: 50 } },
      ),
    );
    worker.register('sleepy', async (ctx) => {
      await ctx.sleep('nap', 300);
      return 'rested';
    });
    await worker.start();

    // Work that finishes: completions (together: group commits), a failure, a step retry, a sleep.
    const executed = await Promise.all([
      ...Array.from({ length: OK_RUNS }, (_, i) => client.start('ok', i, { queue })),
      client.start('boom', null, { queue }),
      client.start('flaky', null, { queue }),
      client.start('sleepy', null, { queue }),
    ]);
    // A backlog nobody serves (one run cancelled), and a run failed at its deadline by the watchdog.
    const idle = await Promise.all([1, 2, 3].map(() => client.start('idle', null, { queue: backlogQueue })));
    await client.cancel(idle[0]!.id);
    const late = await client.start('late', null, { queue: deadlineQueue, timeout: '300ms' });
    // A cron schedule that missed fire times: the scheduler catches them up, then fires on time.
    const scheduleId = h.unique('every-second');
    await client.schedules.create({
      scheduleId,
      workflowType: 'cron-tick',
      queue: cronQueue,
      cron: '* * * * * *',
      paused: true,
    });
    await h.query(
      `UPDATE schedules SET paused = false, next_fire_at = now() - interval '4500 milliseconds'
       WHERE namespace = $1 AND schedule_id = $2`,
      [ns, scheduleId],
    );

    const statusOf = async (id: string) => (await client.get(id)).status;
    for (const run of [...executed, late]) {
      await waitFor(async () => ['COMPLETED', 'FAILED'].includes(await statusOf(run.id)), `run ${run.id} to finish`);
    }
    const fired = await waitFor(async () => {
      const [row] = await h.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM workflow_runs WHERE namespace = $1 AND workflow_type = 'cron-tick'`,
        [ns],
      );
      return row!.n >= 5 ? row!.n : null;
    }, 'catch-up fires');
    await client.schedules.delete(scheduleId);
    const [cron] = await h.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM workflow_runs WHERE namespace = $1 AND workflow_type = 'cron-tick'`,
      [ns],
    );
    expect(cron!.n).toBeGreaterThanOrEqual(fired);
    const [claimed] = await h.query<{ n: number }>(
      `SELECT sum(claims)::int AS n FROM workflow_runs WHERE namespace = $1 AND task_queue = $2`,
      [ns, queue],
    );

    // Metrics are updated right after each transition commits: scrape until the last of them shows.
    const at = (s: Record<string, Scrape>, name: string, labels: Record<string, string>) =>
      ['frontend', 'matching', 'scheduler', 'watchdog'].reduce((sum, app) => sum + total(s[app]!, name, labels), 0);
    const scraped = await waitFor(async () => {
      const s: Record<string, Scrape> = {};
      for (const [app, url] of Object.entries(apps)) s[app] = await scrape(url);
      const settled =
        at(s, METRICS.runsFinished.name, { namespace: ns }) === OK_RUNS + 5 &&
        at(s, METRICS.claims.name, { namespace: ns, queue }) === claimed!.n &&
        at(s, METRICS.scheduleFires.name, { namespace: ns }) === cron!.n &&
        total(s.watchdog!, METRICS.queueRuns.name, { namespace: ns, queue: backlogQueue, status: 'PENDING' }) === 2 &&
        total(s.watchdog!, METRICS.queueRuns.name, { namespace: ns, queue, status: 'RUNNING' }) === 0;
      return settled ? s : null;
    }, 'the metrics of what the test did');
    const { frontend, matching, scheduler, watchdog } = scraped as Record<string, Scrape>;

    for (const [app, s] of Object.entries(scraped)) {
      // Prometheus 3 refuses text/html: the registry's own type.
      expect([app, s.contentType]).toEqual([app, 'text/plain; version=0.0.4; charset=utf-8']);
      expect([app, total(s, METRICS.databaseUnavailable.name)]).toEqual([app, 0]);
      for (const family of s.families.values()) {
        if (!family.name.startsWith('baton_')) continue;
        for (const sample of family.metrics) {
          for (const [label, value] of Object.entries(sample.labels ?? {})) {
            const allowed = ALLOWED_LABELS.has(label) || (label === 'le' && family.name.endsWith('_bucket'));
            expect([family.name, label, allowed]).toEqual([family.name, label, true]);
            expect([family.name, label, value, UUID.test(value)]).toEqual([family.name, label, value, false]);
          }
        }
      }
    }

    // Started and finished where it happened: the frontend (API) and the watchdog (deadline).
    const run = (workflowType: string, q = queue) => ({ namespace: ns, queue: q, workflow_type: workflowType });
    expect(total(frontend!, METRICS.runsStarted.name, run('ok'))).toBe(OK_RUNS);
    expect(total(frontend!, METRICS.runsStarted.name, run('idle', backlogQueue))).toBe(3);
    expect(total(frontend!, METRICS.runsStarted.name, run('late', deadlineQueue))).toBe(1);
    const finished = (s: Scrape, workflowType: string, status: string, q = queue) =>
      total(s, METRICS.runsFinished.name, { ...run(workflowType, q), status });
    expect(finished(frontend!, 'ok', 'COMPLETED')).toBe(OK_RUNS);
    expect(finished(frontend!, 'flaky', 'COMPLETED')).toBe(1);
    expect(finished(frontend!, 'sleepy', 'COMPLETED')).toBe(1);
    expect(finished(frontend!, 'boom', 'FAILED')).toBe(1);
    expect(finished(frontend!, 'idle', 'CANCELLED', backlogQueue)).toBe(1);
    expect(finished(watchdog!, 'late', 'FAILED', deadlineQueue)).toBe(1);
    // Durations: one observation per finished run; the sleeper took at least its sleep.
    const sleepy = { ...run('sleepy'), status: 'COMPLETED' };
    expect(frontend!.types.get(METRICS.runDuration.name)).toBe('HISTOGRAM');
    expect(total(frontend!, METRICS.runDuration.name, sleepy)).toBe(1);
    expect(total(frontend!, METRICS.runDuration.name, sleepy, 'sum')).toBeGreaterThanOrEqual(0.3);
    expect(total(frontend!, METRICS.runDuration.name, { namespace: ns })).toBe(OK_RUNS + 4);
    expect(total(watchdog!, METRICS.runDuration.name, { namespace: ns })).toBe(1);

    // Claims (matching, or the frontend's eager dispatch) and how long each run waited for one.
    expect(at(scraped, METRICS.claims.name, { namespace: ns, queue })).toBe(claimed!.n);
    expect(claimed!.n).toBeGreaterThanOrEqual(OK_RUNS + 5); // the step retry and the sleep each claim once more
    expect(at(scraped, METRICS.scheduleToStart.name, { namespace: ns, queue })).toBe(claimed!.n);
    expect(total(matching!, METRICS.claims.name, { namespace: ns })).toBeGreaterThan(0);

    // Steps as the server recorded them: each ok's step and the flaky one completed, one retry scheduled.
    expect(total(frontend!, METRICS.stepAttempts.name, { namespace: ns, status: 'COMPLETED' })).toBe(OK_RUNS + 1);
    expect(total(frontend!, METRICS.stepAttempts.name, { namespace: ns, status: 'RETRYING' })).toBe(1);
    expect(total(frontend!, METRICS.stepAttempts.name, { namespace: ns, status: 'FAILED' })).toBe(0);

    // The watchdog: the deadline, its lateness, and the queue gauges read at scrape time.
    expect(
      total(watchdog!, METRICS.recoveries.name, {
        namespace: ns,
        queue: deadlineQueue,
        kind: 'deadline',
        status: 'FAILED',
      }),
    ).toBe(1);
    expect(total(watchdog!, METRICS.timerLateness.name, { kind: 'deadline' })).toBeGreaterThanOrEqual(1);
    const gauge = (name: string, labels: Record<string, string>) =>
      total(watchdog!, name, { namespace: ns, ...labels });
    expect(gauge(METRICS.queueRuns.name, { queue: backlogQueue, status: 'PENDING' })).toBe(2);
    expect(gauge(METRICS.queueRuns.name, { queue: backlogQueue, status: 'RUNNING' })).toBe(0);
    for (const status of ['PENDING', 'RUNNING', 'SLEEPING']) {
      expect([status, gauge(METRICS.queueRuns.name, { queue, status })]).toEqual([status, 0]);
    }
    expect(gauge(METRICS.queueOldestClaimableAge.name, { queue: backlogQueue })).toBeGreaterThan(0);
    expect(gauge(METRICS.queueOldestClaimableAge.name, { queue })).toBe(0);
    expect(gauge(METRICS.workersOnline.name, { queue })).toBe(1);
    expect(gauge(METRICS.workersOnline.name, { queue: backlogQueue })).toBe(0);
    // Served once for the deployment, by the watchdog only.
    for (const s of [frontend!, matching!, scheduler!]) expect(s.types.has(METRICS.queueRuns.name)).toBe(false);

    // The scheduler: missed fire times caught up, then on time; the runs it started; its lateness.
    const fires = (kind: string) => total(scheduler!, METRICS.scheduleFires.name, { namespace: ns, kind });
    expect(fires('catch_up')).toBeGreaterThanOrEqual(3);
    expect(fires('on_time')).toBeGreaterThanOrEqual(1);
    expect(fires('catch_up') + fires('on_time')).toBe(cron!.n);
    expect(total(scheduler!, METRICS.runsStarted.name, run('cron-tick', cronQueue))).toBe(cron!.n);
    expect(total(scheduler!, METRICS.timerLateness.name, { kind: 'cron' })).toBe(fires('on_time'));

    // The worker's own registry: its slots, its polls and the step bodies it ran.
    const sdk = parseExposition(await worker.metrics.metrics(), worker.metrics.contentType);
    const mine = { namespace: ns, queue };
    expect(total(sdk, WORKER_METRICS.slotsMax.name, mine)).toBe(SLOTS);
    expect(total(sdk, WORKER_METRICS.slotsInUse.name, mine)).toBe(0);
    expect(total(sdk, WORKER_METRICS.pollDuration.name, { ...mine, status: 'task' })).toBeGreaterThanOrEqual(1);
    const step = (workflowType: string, status: string) =>
      total(sdk, WORKER_METRICS.stepDuration.name, { ...mine, workflow_type: workflowType, status });
    expect(step('ok', 'COMPLETED')).toBe(OK_RUNS);
    expect(step('flaky', 'FAILED')).toBe(1);
    expect(step('flaky', 'COMPLETED')).toBe(1);
    await worker.stop();
    const stopped = parseExposition(await worker.metrics.metrics(), null);
    expect(total(stopped, WORKER_METRICS.slotsMax.name, mine)).toBe(0);
  });
});

describe('Prometheus metrics through outages', () => {
  let h: TestHarness;
  let nats: TcpProxy;

  beforeAll(async () => {
    nats = await TcpProxy.start(new URL(await ensureNats()).host);
    h = await TestHarness.start({
      databaseThroughProxy: true,
      // The outages below must not make the worker stale: this is about what the services count.
      workerStaleThresholdSecs: 30,
      leaseDurationSecs: 30,
      overrides: { natsUrl: `nats://${nats.address}` },
    });
  });

  afterAll(async () => {
    await nats?.restore();
    await h?.stop();
    nats?.close();
  });

  test('database faults and NATS disconnects are counted; /metrics answers throughout', async () => {
    const ns = h.unique('ns');
    const queue = h.unique();
    const client = h.client(ns);
    await client.start('waits', null, { queue });
    const watchdogUrl = `http://127.0.0.1:${h.config.watchdogHealthPort}`;
    const pending = (s: Scrape) => total(s, METRICS.queueRuns.name, { namespace: ns, queue, status: 'PENDING' });
    await waitFor(async () => pending(await scrape(watchdogUrl)) === 1, 'the queue gauge');

    // The database goes away: the watchdog's jobs fail UNAVAILABLE, and a scrape leaves the gauges it could
    // not read out rather than failing.
    h.databaseProxy!.cut();
    const during = await waitFor(async () => {
      const s = await scrape(watchdogUrl);
      return total(s, METRICS.databaseUnavailable.name) > 0 ? s : null;
    }, 'database faults counted');
    expect(during.families.get(METRICS.queueRuns.name)?.metrics ?? []).toEqual([]);
    await h.databaseProxy!.restore();
    await waitFor(async () => pending(await scrape(watchdogUrl)) === 1, 'the queue gauge back');

    // NATS goes away and comes back: the frontend's client (it published the start's doorbell) says so.
    const events = async (kind: string) => total(await scrape(h.httpUrl), METRICS.natsConnectionEvents.name, { kind });
    expect(await events('disconnect')).toBe(0);
    nats.cut();
    await waitFor(async () => (await events('disconnect')) === 1, 'the disconnect counted');
    await nats.restore();
    await waitFor(async () => (await events('reconnect')) === 1, 'the reconnect counted');
  });
});
