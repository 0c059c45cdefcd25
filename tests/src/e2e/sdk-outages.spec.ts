import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { BatonError, NonRetryableError, StepFailedError } from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';
import { adminQuery } from '../harness/services';

/**
 * Issue 7, item 3: the SDK never reports an infrastructure fault as a
 * workflow failure. Runs allow no retry at all (`maxAttempts: 1`), so any
 * fault that leaked into a FailWorkflow would leave them FAILED.
 */
const NO_RETRY = { maxAttempts: 1 };

/** Longer than the five tries (~6 s) the SDK used to make before failing the run. */
const OUTAGE_MS = 10_000;

/**
 * A TCP proxy in front of the frontend's gRPC port that can swallow the
 * server's replies while letting requests through, then cut every
 * connection: the server applied the call, the worker never heard back.
 */
class ReplyDroppingProxy {
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;
  private dropping = false;
  address = '';

  private constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      const upstream = createConnection(target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => {
        if (!this.dropping) client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(target: { host: string; port: number }): Promise<ReplyDroppingProxy> {
    const proxy = new ReplyDroppingProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    proxy.address = `127.0.0.1:${(proxy.server.address() as { port: number }).port}`;
    return proxy;
  }

  /** From now on, nothing the server sends reaches the worker. */
  dropReplies(): void {
    this.dropping = true;
  }

  /** Arms dropReplies for the first call only: a handler or step body that runs again must not lose more. */
  dropRepliesOnce(): () => void {
    let armed = true;
    return () => {
      if (armed) this.dropReplies();
      armed = false;
    };
  }

  /** Cuts every connection (the worker sees it dropped), then lets new ones through untouched. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.dropping = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('SDK: infrastructure faults are never workflow failures', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Leases and the stale threshold outlast the outage: the server has no reason to recover
    // anything, so every run must finish on its first attempt with the worker that began it.
    // Heartbeats are 10 s apart, longer than a claim's short first lease: only the worker's
    // early acknowledgement of a task can keep a claim.
    h = await TestHarness.start({ leaseDurationSecs: 30, workerStaleThresholdSecs: 30, heartbeatIntervalSecs: 10 });
    // The suite's own pool loses its connections in the outage too.
    h.db.on('error', () => undefined);
  });

  afterAll(async () => {
    await h?.stop();
  });

  async function runRows(ids: string[]) {
    return h.query<{ id: string; status: string; attempt: number; error_message: string | null }>(
      `SELECT id, status, attempt, error_message FROM workflow_runs WHERE id = ANY($1::uuid[]) ORDER BY id`,
      [ids],
    );
  }

  /** Claims the worker acknowledged: delivered, and held for longer than a claim's short first lease. */
  async function acknowledged(ids: string[]): Promise<number> {
    const [row] = await h.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM workflow_runs WHERE id = ANY($1::uuid[]) AND delivered
          AND locked_until > now() + $2::bigint * interval '1 millisecond'`,
      [ids, h.config.claimAckTimeoutMs],
    );
    return row!.n;
  }

  test('a task is acknowledged as soon as it arrives and never handed back', async () => {
    const queue = h.unique();
    const release = deferred();
    let executions = 0;
    const worker = h.worker({ queue });
    worker.register('held', async () => {
      executions++;
      await release.promise;
      return 'ok';
    });
    await worker.start();
    const client = h.client();
    const ids = (await Promise.all([1, 2, 3].map(() => client.start('held', undefined, { queue })))).map((r) => r.id);

    // The next periodic heartbeat is 10 s away: the acknowledgement is the one sent on arrival.
    await waitFor(async () => (await acknowledged(ids)) === ids.length, 'the claims to be acknowledged');
    release.resolve();
    for (const id of ids) await expect(client.result(id)).resolves.toBe('ok');
    // One claim each, never handed back and claimed again.
    const rows = await h.query(`SELECT claims, attempt, recoveries FROM workflow_runs WHERE id = ANY($1::uuid[])`, [
      ids,
    ]);
    expect(rows).toEqual(ids.map(() => ({ claims: 1, attempt: 1, recoveries: 0 })));
    expect(executions).toBe(ids.length);
  });

  test('a PostgreSQL outage mid-run leaves every run COMPLETED on its first attempt', async () => {
    const queue = h.unique();
    const database = new URL(h.config.databaseUrl!).pathname.slice(1);
    const errors: unknown[] = [];
    const arrived = new Set<string>();
    const databaseDown = deferred();
    const bodies = new Map<string, number>();
    const ran = (key: string) => bodies.set(key, (bodies.get(key) ?? 0) + 1);
    /** Holds the run at the point its next mutation would reach the server, until the database is down. */
    const atGate = async (ctx: WorkflowContext) => {
      arrived.add(ctx.runId);
      await databaseDown.promise;
    };

    const worker = h.worker({ queue, onError: (err) => errors.push(err) });
    worker.register('outage', async (ctx, input: { kind: string }) => {
      const first = await ctx.step('first', () => {
        ran(`${ctx.runId}:first`);
        return 1;
      });
      let second: unknown;
      switch (input.kind) {
        case 'CompleteStep':
          second = await ctx.step('second', async () => {
            ran(`${ctx.runId}:second`);
            await atGate(ctx);
            return 2;
          });
          break;
        case 'FailStep':
          // Fails once during the outage; the step's own policy retries it after the outage.
          second = await ctx.step(
            'second',
            async () => {
              ran(`${ctx.runId}:second`);
              if ((bodies.get(`${ctx.runId}:second`) ?? 0) > 1) return 2;
              await atGate(ctx);
              throw new Error('flaky dependency');
            },
            { retry: { maxAttempts: 2, initialIntervalMs: 50 } },
          );
          break;
        case 'Sleep':
          await atGate(ctx);
          await ctx.sleep('nap', 50);
          second = 2;
          break;
        case 'CompleteWorkflow':
          second = 2;
          await atGate(ctx);
          break;
      }
      return { first, second, kind: input.kind };
    });
    await worker.start();

    const client = h.client();
    const kinds = ['CompleteStep', 'FailStep', 'Sleep', 'CompleteWorkflow'];
    const started = [...kinds, ...kinds];
    const runs = await Promise.all(started.map((kind) => client.start('outage', { kind }, { queue, retry: NO_RETRY })));
    const ids = runs.map((r) => r.id);
    await waitFor(() => arrived.size === ids.length, 'every run to reach its mutation');
    await waitFor(async () => (await acknowledged(ids)) === ids.length, 'every claim to be acknowledged');

    // The test database goes away for everyone (frontend, matching, watchdog): refused and cut.
    const downAt = Date.now();
    await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    try {
      await adminQuery(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database}' AND pid <> pg_backend_pid()`,
      );
      databaseDown.resolve();
      await waitFor(() => errors.length > 0, 'the worker to meet the outage');
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - downAt)));
    } finally {
      await adminQuery(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
    }

    for (const run of runs) {
      await expect(client.result(run.id, { timeout: '60s' })).resolves.toMatchObject({
        first: 1,
        second: 2,
      });
    }
    expect(Date.now() - downAt).toBeGreaterThanOrEqual(OUTAGE_MS);
    // Never failed (FailWorkflow records its error even when it would retry), never retried, never recovered.
    // A parked run (step retry, sleep) is claimed once more when it resumes; nothing else is.
    const claims = await h.query<{ id: string; claims: number; recoveries: number }>(
      `SELECT id, claims, recoveries FROM workflow_runs WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    for (const row of claims) {
      const kind = started[ids.indexOf(row.id)]!;
      expect({ kind, claims: row.claims, recoveries: row.recoveries }).toEqual({
        kind,
        claims: kind === 'FailStep' || kind === 'Sleep' ? 2 : 1,
        recoveries: 0,
      });
    }
    expect(await runRows(ids)).toEqual(
      [...ids]
        .sort()
        .map((id) => expect.objectContaining({ id, status: 'COMPLETED', attempt: 1, error_message: null })),
    );
    // Completed steps never ran again; only the deliberately flaky step ran twice.
    for (const id of ids) expect(bodies.get(`${id}:first`)).toBe(1);
    const steps = await h.query<{ step_id: string; status: string; n: number }>(
      `SELECT step_id, status, count(*)::int AS n FROM step_runs WHERE run_id = ANY($1::uuid[])
        GROUP BY step_id, status ORDER BY step_id`,
      [ids],
    );
    expect(steps).toEqual(
      expect.arrayContaining([
        { step_id: 'first', status: 'COMPLETED', n: ids.length },
        { step_id: 'second', status: 'COMPLETED', n: 4 },
      ]),
    );
    // The worker saw the outage (transient errors), and never gave a run up.
    expect(errors.some((err) => err instanceof BatonError && err.code === 'UNAVAILABLE')).toBe(true);
    expect(errors.filter((err) => (err as Error)?.name === 'RunAbandonedError')).toEqual([]);
  }, 120_000);

  describe('a lost reply is not a failure', () => {
    let proxy: ReplyDroppingProxy;

    beforeAll(async () => {
      proxy = await ReplyDroppingProxy.start({ host: '127.0.0.1', port: h.config.grpcPort });
    });

    afterAll(async () => {
      await proxy?.close();
    });

    /** Swallows the reply to the mutation the handler is about to make, once the server shows it applied. */
    async function loseReplyOnceApplied(applied: () => Promise<boolean>) {
      await waitFor(applied, 'the server to apply the call whose reply is lost');
      proxy.cut();
    }

    /** What the worker reported: the cut connection, and nothing that gave a run up or failed one. */
    function expectOnlyTransient(errors: unknown[]) {
      for (const err of errors) {
        expect(err).toBeInstanceOf(BatonError);
        expect(['UNAVAILABLE', 'DEADLINE_EXCEEDED']).toContain((err as BatonError).code);
      }
    }

    async function expectCompletedOnFirstAttempt(id: string) {
      expect(await runRows([id])).toEqual([
        expect.objectContaining({ status: 'COMPLETED', attempt: 1, error_message: null }),
      ]);
    }

    test('CompleteWorkflow applied, reply lost: the repeat finds the run finished', async () => {
      const queue = h.unique();
      const errors: unknown[] = [];
      const worker = h.worker({ queue, address: proxy.address, onError: (err) => errors.push(err) });
      let handlerRuns = 0;
      const loseReply = proxy.dropRepliesOnce();
      worker.register('finish', async () => {
        handlerRuns++;
        loseReply();
        return 'done';
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('finish', undefined, { queue, retry: NO_RETRY });
      await loseReplyOnceApplied(async () => (await runRows([run.id]))[0]?.status === 'COMPLETED');
      await expect(client.result(run.id)).resolves.toBe('done');
      await expectCompletedOnFirstAttempt(run.id);
      expect(handlerRuns).toBe(1);
      // The worker settled the run itself (its repeat resolved), with nothing but the dropped connection to report.
      await waitFor(() => worker.activeCount === 0, 'the worker to settle the run');
      expectOnlyTransient(errors);

      // The worker is still working: the next run goes through it as usual.
      const next = await client.start('finish', undefined, { queue, retry: NO_RETRY });
      await expect(client.result(next.id)).resolves.toBe('done');
      await worker.stop();
    });

    test('CompleteStep applied, reply lost: the repeat is idempotent and the step body does not run again', async () => {
      const queue = h.unique();
      const errors: unknown[] = [];
      const worker = h.worker({ queue, address: proxy.address, onError: (err) => errors.push(err) });
      let bodies = 0;
      const loseReply = proxy.dropRepliesOnce();
      worker.register('step', async (ctx) => {
        const value = await ctx.step('only', () => {
          bodies++;
          loseReply();
          return 41;
        });
        return value + 1;
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('step', undefined, { queue, retry: NO_RETRY });
      await loseReplyOnceApplied(
        async () =>
          (await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1 AND status = 'COMPLETED'`, [run.id])).length === 1,
      );
      await expect(client.result(run.id)).resolves.toBe(42);
      await expectCompletedOnFirstAttempt(run.id);
      expect(bodies).toBe(1);
      expectOnlyTransient(errors);
      await worker.stop();
    });

    test("a final FailStep applied, reply lost: the workflow still sees the step's own failure and handles it", async () => {
      const queue = h.unique();
      const errors: unknown[] = [];
      const worker = h.worker({ queue, address: proxy.address, onError: (err) => errors.push(err) });
      const loseReply = proxy.dropRepliesOnce();
      worker.register('compensate', async (ctx) => {
        try {
          await ctx.step('charge', () => {
            loseReply();
            throw new NonRetryableError('card declined');
          });
          return 'charged';
        } catch (err) {
          // Only a real step failure is compensated; anything else would fail the run.
          if (!(err instanceof StepFailedError)) throw err;
          return `compensated: ${err.message}`;
        }
      });
      await worker.start();
      const client = h.client();
      const run = await client.start('compensate', undefined, { queue, retry: NO_RETRY });
      await loseReplyOnceApplied(
        async () =>
          (await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1 AND status = 'FAILED' AND final`, [run.id]))
            .length === 1,
      );
      await expect(client.result(run.id)).resolves.toBe('compensated: card declined');
      await expectCompletedOnFirstAttempt(run.id);
      expectOnlyTransient(errors);
      await worker.stop();
    });
  });
});
