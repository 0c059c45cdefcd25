import { bootstrapMatching } from '@baton/matching';
import type { RunningApp } from '@baton/runtime';
import { BatonError, ErrorCode } from '@baton/sdk';
import type { Worker } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';
import { freePort } from '../harness/ports';

/*
 * Flow control, enforced by the claim statement: priority, concurrency keys
 * and rate limits, with several workers and two matching replicas. Ordering
 * and overlap are proved with recorded order, barriers and the database's own
 * timestamps, never with wall-clock margins.
 */

jest.setTimeout(120_000);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Handlers running now and the most that ever ran at once, per key. */
function overlapProbe() {
  const now = new Map<string, number>();
  const peak = new Map<string, number>();
  const gates: Array<{ key: string; n: number; open: () => void }> = [];
  return {
    enter(key: string) {
      const n = (now.get(key) ?? 0) + 1;
      now.set(key, n);
      peak.set(key, Math.max(peak.get(key) ?? 0, n));
      for (const gate of gates) if (gate.key === key && n >= gate.n) gate.open();
    },
    leave(key: string) {
      now.set(key, now.get(key)! - 1);
    },
    /** Resolves once `n` handlers of `key` run at the same time. */
    reached(key: string, n: number): Promise<void> {
      const gate = deferred();
      gates.push({ key, n, open: gate.resolve });
      if ((now.get(key) ?? 0) >= n) gate.resolve();
      return gate.promise;
    },
    now: (key: string) => now.get(key) ?? 0,
    peak: (key: string) => peak.get(key) ?? 0,
  };
}

/** The most RUNNING runs of `key` at once, replaying logged claims (+1) and exits (-1) in order. */
function maxRunning(events: Array<{ key: string; delta: number }>, key: string): number {
  let running = 0;
  let most = 0;
  for (const e of events) {
    if (e.key !== key) continue;
    running += e.delta;
    most = Math.max(most, running);
  }
  return most;
}

/**
 * Test-only instrumentation: every keyed run entering or leaving RUNNING, at
 * the clock time the statement doing it reached its end. Nothing in the
 * product reads this table.
 */
async function installKeyAudit(h: TestHarness): Promise<void> {
  await h.query(`
    CREATE TABLE IF NOT EXISTS test_key_events (
      seq bigserial PRIMARY KEY, queue text NOT NULL, key text NOT NULL, delta int NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await h.query(`
    CREATE OR REPLACE FUNCTION test_log_key_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status = 'RUNNING' AND OLD.status <> 'RUNNING' THEN
        INSERT INTO test_key_events (queue, key, delta) VALUES (NEW.task_queue, NEW.concurrency_key, 1);
      ELSIF OLD.status = 'RUNNING' AND NEW.status <> 'RUNNING' THEN
        INSERT INTO test_key_events (queue, key, delta) VALUES (NEW.task_queue, NEW.concurrency_key, -1);
      END IF;
      RETURN NULL;
    END $$`);
  await h.query(`DROP TRIGGER IF EXISTS test_key_events ON workflow_runs`);
  await h.query(`CREATE TRIGGER test_key_events AFTER UPDATE OF status ON workflow_runs
    FOR EACH ROW WHEN (NEW.concurrency_key IS NOT NULL) EXECUTE FUNCTION test_log_key_event()`);
}

describe('Flow control', () => {
  let h: TestHarness;
  let replica: RunningApp;

  beforeAll(async () => {
    h = await TestHarness.start({
      // Not the subject here: generous, so that a starved CPU cannot expire a lease under a held handler.
      leaseDurationSecs: 30,
      claimAckTimeoutSecs: 15,
      workerStaleThresholdSecs: 30,
    });
    // A second matching replica: polls are shared between the two (a NATS queue group).
    replica = await bootstrapMatching({ ...h.config, matchingHealthPort: await freePort() });
    await installKeyAudit(h);
  });

  afterAll(async () => {
    await replica?.close();
    await h?.stop();
  });

  const startWorkers = async (
    n: number,
    options: { queue: string; maxConcurrent: number },
    setup: (w: Worker) => void,
  ) =>
    Promise.all(
      range(n).map(async () => {
        const worker = h.worker(options);
        setup(worker);
        await worker.start();
        return worker;
      }),
    );

  test('priority_runs_claimed_first', async () => {
    const queue = h.unique();
    const client = h.client();
    // No worker yet: every run waits PENDING. Started one after another, lowest priority first, so
    // claiming in start order (FIFO alone) would run them the other way round.
    const levels: Array<[string, number]> = [
      ['low', -5],
      ['normal', 0],
      ['high', 7],
    ];
    const plan = levels.flatMap(([level, priority]) => range(3).map((n) => [`${level}-${n}`, priority] as const));
    const started = [];
    for (const [label, priority] of plan) started.push(await client.start('job', label, { queue, priority }));
    expect((await client.get(started[8]!.id)).priority).toBe(7);
    expect((await client.get(started[3]!.id)).priority).toBe(0);

    const executed: string[] = [];
    const worker = h.worker({ queue, maxConcurrent: 1 });
    worker.register('job', async (_ctx, label: string) => {
      executed.push(label);
      return label;
    });
    await worker.start();
    await Promise.all(started.map((run) => client.result(run.id)));

    const expected = ['high', 'normal', 'low'].flatMap((p) => range(3).map((n) => `${p}-${n}`));
    expect(executed).toEqual(expected);
    // The database agrees: claimed (started) in the same order.
    const rows = await h.query<{ label: string }>(
      `SELECT convert_from(p.input, 'UTF8') AS label FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id
       WHERE r.task_queue = $1 ORDER BY r.started_at, r.id`,
      [queue],
    );
    expect(rows.map((r) => JSON.parse(r.label))).toEqual(expected);
  });

  test('concurrency_key_limits_runs_across_workers', async () => {
    const queue = h.unique();
    const client = h.client();
    const probe = overlapProbe();
    const releaseA = deferred();
    // B runs hold until three of them run at once: B reaches its own limit while A is full.
    const bFull = probe.reached('B', 3);
    const aDone: string[] = [];
    const bDone: string[] = [];
    const A_RUNS = 8;
    const B_RUNS = 6;
    // Three workers with 12 slots between them: room for every A run at once, were it allowed.
    await startWorkers(3, { queue, maxConcurrent: 4 }, (worker) =>
      worker.register('keyed', async (_ctx, input: { key: string; n: number }) => {
        probe.enter(input.key);
        try {
          if (input.key === 'A') {
            // Held until the test lets go: while held, a third A run would overlap if allowed.
            await releaseA.promise;
            // Then each overlaps with the next one started, if any were let through early.
            await new Promise((resolve) => setTimeout(resolve, 20));
            aDone.push(`A-${input.n}`);
          } else {
            await bFull;
            bDone.push(`B-${input.n}`);
          }
        } finally {
          probe.leave(input.key);
        }
        return input.n;
      }),
    );

    // A runs first: they are the oldest, so a full key must not hold back the runs behind it.
    const aRuns = [];
    for (const n of range(A_RUNS)) {
      aRuns.push(await client.start('keyed', { key: 'A', n }, { queue, concurrency: { key: 'A', limit: 2 } }));
    }
    const bRuns = await Promise.all(
      range(B_RUNS).map((n) => client.start('keyed', { key: 'B', n }, { queue, concurrency: { key: 'B', limit: 3 } })),
    );
    expect((await client.get(aRuns[0]!.id)).concurrency).toEqual({ key: 'A', limit: 2 });

    // B progresses to the end while A is full (two A handlers held, six A runs waiting).
    await Promise.all(bRuns.map((run) => client.result(run.id)));
    expect(bDone).toHaveLength(B_RUNS);
    await waitFor(() => probe.now('A') === 2, 'two A runs held in their handlers');
    expect(aDone).toEqual([]);
    const [{ pending }] = await h.query<{ pending: number }>(
      `SELECT count(*)::int AS pending FROM workflow_runs WHERE task_queue = $1 AND concurrency_key = 'A' AND status = 'PENDING'`,
      [queue],
    );
    expect(pending).toBe(A_RUNS - 2);

    releaseA.resolve();
    await Promise.all(aRuns.map((run) => client.result(run.id)));
    expect(aDone).toHaveLength(A_RUNS);
    // Reached, and never exceeded, by the handlers themselves...
    expect(probe.peak('A')).toBe(2);
    expect(probe.peak('B')).toBe(3);
    // ...and by the database: test triggers logged, at the moment each happened, every claim of a
    // keyed run (at the end of the claim statement: after its locks, so after the commit of any exit it
    // counted) and every exit (at the end of the exiting statement: before its commit). Replayed in
    // order, RUNNING per key never exceeded the limit at any instant.
    const events = await h.query<{ key: string; delta: number }>(
      `SELECT key, delta FROM test_key_events WHERE queue = $1 ORDER BY at, delta`,
      [queue],
    );
    // (A claim handed back undelivered and claimed again logs both; each run is claimed at least once.)
    expect(events.filter((e) => e.delta === 1).length).toBeGreaterThanOrEqual(A_RUNS + B_RUNS);
    expect(maxRunning(events, 'A')).toBe(2);
    expect(maxRunning(events, 'B')).toBe(3);
    // Every slot came back: nothing RUNNING holds A or B.
    const slots = await h.query<{ key: string; running: number }>(
      `SELECT s.key, (s.running + coalesce((SELECT sum(d.delta) FROM concurrency_slot_deltas d
                                             WHERE d.namespace = s.namespace AND d.key = s.key), 0))::int AS running
       FROM concurrency_slots s WHERE s.namespace = 'default' AND s.key IN ('A', 'B') ORDER BY s.key`,
    );
    expect(slots).toEqual([
      { key: 'A', running: 0 },
      { key: 'B', running: 0 },
    ]);
  });

  test('rate_limit_caps_claims_per_period', async () => {
    const queue = h.unique();
    const client = h.client();
    const LIMIT = 3;
    const PERIOD_MS = 2_000;
    const RUNS = 9;
    const limit = await client.rateLimits.set({ queue, limit: LIMIT, period: PERIOD_MS });
    expect(limit).toMatchObject({ queue, workflowType: null, limit: LIMIT, periodMs: PERIOD_MS });
    expect((await client.rateLimits.list()).filter((l) => l.queue === queue)).toHaveLength(1);

    // Fifteen free slots on three workers (and polls waiting at two matching replicas): without the
    // limit all nine runs would start at once.
    await startWorkers(3, { queue, maxConcurrent: 5 }, (worker) =>
      worker.register('limited', async (_ctx, n: number) => n),
    );
    const runs = await Promise.all(range(RUNS).map((n) => client.start('limited', n, { queue })));
    await Promise.all(runs.map((run) => client.result(run.id, { timeout: 60_000 })));

    // Each claim's time is its transaction's now(), as the limit's window records it: in any window
    // [t, t + period) at most LIMIT runs started, i.e. the (i + LIMIT)-th start is a full period
    // after the i-th.
    const starts = (
      await h.query<{ at: string }>(
        `SELECT (extract(epoch FROM started_at) * 1000000)::bigint::text AS at FROM workflow_runs
         WHERE task_queue = $1 ORDER BY started_at`,
        [queue],
      )
    ).map((r) => BigInt(r.at));
    expect(starts).toHaveLength(RUNS);
    const gaps = range(RUNS - LIMIT).map((i) => starts[i + LIMIT]! - starts[i]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(BigInt(PERIOD_MS * 1000));
    // The cap bound: the nine starts span at least two whole periods.
    expect(starts[RUNS - 1]! - starts[0]!).toBeGreaterThanOrEqual(BigInt(2 * PERIOD_MS * 1000));

    // Removed, the queue takes work freely again.
    await client.rateLimits.delete({ queue });
    expect((await client.rateLimits.list()).filter((l) => l.queue === queue)).toEqual([]);
    const free = await Promise.all(range(LIMIT + 2).map((n) => client.start('limited', n, { queue })));
    await Promise.all(free.map((run) => client.result(run.id)));
    await expect(client.rateLimits.delete({ queue })).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
  });

  test('rate_limit_of_a_workflow_type_holds_back_only_that_type', async () => {
    const queue = h.unique();
    const client = h.client();
    const type = h.unique('throttled');
    await client.rateLimits.set({ workflowType: type, limit: 1, period: '1s' });
    const executed: string[] = [];
    await startWorkers(2, { queue, maxConcurrent: 4 }, (worker) => {
      worker.register(type, async (_ctx, n: number) => {
        executed.push(`${type}-${n}`);
        return n;
      });
      worker.register('free', async (_ctx, n: number) => {
        executed.push(`free-${n}`);
        return n;
      });
    });
    const limited = await Promise.all(range(3).map((n) => client.start(type, n, { queue })));
    const free = await Promise.all(range(4).map((n) => client.start('free', n, { queue })));
    // The free type is not held back by the limited one waiting.
    await Promise.all(free.map((run) => client.result(run.id)));
    await Promise.all(limited.map((run) => client.result(run.id, { timeout: 60_000 })));
    const starts = (
      await h.query<{ at: string }>(
        `SELECT (extract(epoch FROM started_at) * 1000000)::bigint::text AS at FROM workflow_runs
         WHERE task_queue = $1 AND workflow_type = $2 ORDER BY started_at`,
        [queue, type],
      )
    ).map((r) => BigInt(r.at));
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(1_000_000n);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(1_000_000n);
    await client.rateLimits.delete({ workflowType: type });
  });

  test('flow_control_options_are_validated_at_the_edge', async () => {
    const client = h.client();
    const refused = async (call: Promise<unknown>, field: string) => {
      const err = await call.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BatonError);
      expect(err).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, field });
    };
    await refused(client.start('job', null, { priority: 101 }), 'priority');
    await refused(client.start('job', null, { concurrency: { key: '', limit: 1 } }), 'concurrency.key');
    await refused(client.start('job', null, { concurrency: { key: 'k', limit: 0 } }), 'concurrency.limit');
    await refused(client.rateLimits.set({ queue: 'q', limit: 0, period: '1s' }), 'limit');
    await refused(client.rateLimits.set({ queue: 'q', limit: 1, period: 10 }), 'periodMs');
    await refused(client.rateLimits.set({ queue: '', limit: 1, period: '1s' } as never), 'queue');

    // HTTP: the same fields, the same refusals.
    const fraction = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: 'job', priority: 1.5 });
    expect([fraction.status, fraction.body.error.field]).toEqual([400, 'priority']);
    const res = await h
      .http()
      .post('/v1/namespaces/default/workflows')
      .send({ workflowType: 'job', concurrency: { key: 'k', limit: 1, extra: true } });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('concurrency.extra');
    const put = await h.http().put('/v1/namespaces/default/rate-limits').send({ queue: 'q', limit: 2, period: '1s' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ namespace: 'default', queue: 'q', limit: 2, periodMs: 1_000 });
    const both = await h
      .http()
      .put('/v1/namespaces/default/rate-limits')
      .send({ queue: 'q', workflowType: 't', limit: 2, period: '1s' });
    expect(both.status).toBe(400);
    expect((await h.http().delete('/v1/namespaces/default/rate-limits?queue=q')).status).toBe(204);
    expect((await h.http().delete('/v1/namespaces/default/rate-limits?queue=q')).status).toBe(404);
  });
});
