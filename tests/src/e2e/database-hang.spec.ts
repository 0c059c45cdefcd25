import { createServer, Socket } from 'node:net';
import type { Server } from 'node:net';
import { buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { bootstrapFrontend } from '@baton/frontend';
import { bootstrapMatching } from '@baton/matching';
import { Sql, createDataSource } from '@baton/persistence';
import { JobRunner } from '@baton/runtime';
import type { RunningApp } from '@baton/runtime';
import { bootstrapScheduler } from '@baton/scheduler';
import { bootstrapWatchdog } from '@baton/watchdog';
import request from 'supertest';
import { TestHarness, deferred, waitFor } from '../index';

/** One proxied connection; `dead` once a black hole swallowed it (it never forwards again). */
interface Link {
  client: Socket;
  server?: Socket;
  dead: boolean;
}

/**
 * A TCP proxy in front of PostgreSQL that can become a black hole: it keeps
 * accepting connections and keeps every socket open, but forwards nothing in
 * either direction, not even a close, as a hung server or a link that drops
 * packets does. A connection caught in the hole stays silent for good (its
 * bytes are gone); after heal() new connections reach PostgreSQL again.
 */
class BlackHoleProxy {
  private hole = false;
  private readonly links = new Set<Link>();
  private readonly server: Server = createServer((client) => this.accept(client));
  /** Bytes thrown away by the hole: proof that the clients were really cut off. */
  swallowed = 0;
  port = 0;

  private constructor(private readonly target: { host: string; port: number }) {}

  static async start(target: { host: string; port: number }): Promise<BlackHoleProxy> {
    const proxy = new BlackHoleProxy(target);
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', resolve);
    });
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string {
    const proxied = new URL(url);
    proxied.host = `127.0.0.1:${this.port}`;
    return proxied.toString();
  }

  blackHole(): void {
    this.hole = true;
    for (const link of this.links) link.dead = true;
  }

  heal(): void {
    this.hole = false;
  }

  close(): void {
    this.server.close();
    for (const link of this.links) {
      link.client.destroy();
      link.server?.destroy();
    }
    this.links.clear();
  }

  private accept(client: Socket): void {
    const link: Link = { client, dead: this.hole };
    this.links.add(link);
    client.on('error', () => undefined);
    client.on('data', (chunk: Buffer) => {
      if (link.dead) this.swallowed += chunk.length;
      else link.server?.write(chunk);
    });
    // A client leaving a dead link is not forwarded either: the server keeps its session
    // (and any open transaction) until PostgreSQL itself gives up on it.
    client.on('close', () => {
      if (!link.dead) link.server?.destroy();
    });
    if (link.dead) return;
    const server = new Socket();
    link.server = server;
    server.on('error', () => undefined);
    server.on('data', (chunk: Buffer) => {
      if (link.dead) this.swallowed += chunk.length;
      else client.write(chunk);
    });
    server.on('close', () => {
      if (!link.dead) client.destroy();
    });
    server.connect(this.target.port, this.target.host);
  }
}

/** PostgreSQL's address, from the harness's database URL. */
function postgresOf(h: TestHarness): { host: string; port: number } {
  const url = new URL(h.config.databaseUrl!);
  return { host: url.hostname, port: Number(url.port || 5432) };
}

/** GET /readyz on `port`, failing the request if no answer comes within `deadlineMs`. */
async function readyz(port: number, deadlineMs: number): Promise<number> {
  const res = await request(`http://127.0.0.1:${port}`).get('/readyz').timeout(deadlineMs);
  return res.status;
}

describe('Hung database (issue 7, item 6)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    // Leases and the stale threshold outlast the hang: this file is about the database, not staleness.
    h = await TestHarness.start({ apps: [], workerStaleThresholdSecs: 20, leaseDurationSecs: 20 });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('a silent database costs a statement its timeout, then UNAVAILABLE, and no connection stays poisoned', async () => {
    const proxy = await BlackHoleProxy.start(postgresOf(h));
    const dataSource = createDataSource({
      url: proxy.url(h.config.databaseUrl!),
      poolSize: 2,
      applicationName: 'baton-hang-test',
      connectTimeoutMs: 1_000,
      queryTimeoutMs: 1_500,
    });
    await dataSource.initialize();
    const sql = new Sql(dataSource);
    try {
      // Both pooled connections open and idle.
      await Promise.all([sql.rows('SELECT pg_sleep(0.05)'), sql.rows('SELECT pg_sleep(0.05)')]);

      // A transaction is cut off while it holds a lock.
      const lockKey = 7_318_100_077;
      const locked = deferred();
      const proceed = deferred();
      const cutOff = sql.transaction(async (q) => {
        await q.rows('SELECT pg_advisory_xact_lock($1)', [lockKey]);
        locked.resolve();
        await proceed.promise;
        return q.rows('SELECT 1');
      });
      await locked.promise;
      proxy.blackHole();
      proceed.resolve();
      // The other pooled connection, caught in the hole while idle.
      const idle = sql.rows('SELECT 1');

      for (const hung of [cutOff, idle]) {
        await expect(hung).rejects.toMatchObject({
          code: 'UNAVAILABLE',
          message: expect.stringMatching(/Query read timeout/),
        });
      }
      expect(proxy.swallowed).toBeGreaterThan(0);
      // The session kept its transaction open on the server (the hole forwards no close): PostgreSQL
      // ends it (idle_in_transaction_session_timeout) and the lock is free again.
      await waitFor(
        async () => (await h.query(`SELECT pg_try_advisory_xact_lock($1) AS got`, [lockKey]))[0]!.got,
        'the cut-off transaction to be ended by PostgreSQL',
        { timeoutMs: 10_000 },
      );

      // Readiness is bounded on its own; a new connection gives up after the connect timeout.
      await expect(sql.ping(300)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(sql.rows('SELECT 1')).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringMatching(/timeout/),
      });

      proxy.heal();
      // Two statements at once use both pool slots: a connection kept from the hang would time out again.
      await expect(Promise.all([sql.rows('SELECT 1 AS one'), sql.rows('SELECT 2 AS two')])).resolves.toEqual([
        [{ one: 1 }],
        [{ two: 2 }],
      ]);
      await sql.ping(1_000);
    } finally {
      await dataSource.destroy().catch(() => undefined);
      proxy.close();
    }
  });

  test('a job pass that never settles does not stop later passes', async () => {
    const runner = new JobRunner(buildConfig({ dbConnectTimeoutMs: 100, dbQueryTimeoutMs: 100 }));
    let passes = 0;
    runner.schedule(
      {
        name: 'stuck-once',
        run: () => (++passes === 1 ? new Promise<boolean>(() => undefined) : Promise.resolve(false)),
      },
      50,
    );
    try {
      await waitFor(() => passes >= 3, 'passes after the stuck one', { timeoutMs: 10_000 });
    } finally {
      await runner.beforeApplicationShutdown();
    }
  });

  describe('services behind a database that hangs', () => {
    let proxy: BlackHoleProxy;
    let config: BatonConfig;
    const apps: RunningApp[] = [];

    beforeAll(async () => {
      proxy = await BlackHoleProxy.start(postgresOf(h));
      config = buildConfig({
        ...h.config,
        databaseUrl: proxy.url(h.config.databaseUrl!),
        dbConnectTimeoutMs: 1_000,
        dbQueryTimeoutMs: 3_000,
      });
      for (const boot of [bootstrapFrontend, bootstrapMatching, bootstrapScheduler, bootstrapWatchdog]) {
        apps.push(await boot(config));
      }
    });

    afterAll(async () => {
      for (const app of [...apps].reverse()) await app.close().catch(() => undefined);
      proxy?.close();
    });

    test('readyz is 503 within 2 s during the hang; afterwards every service moves runs again', async () => {
      const probePorts = [
        config.httpPort,
        config.matchingHealthPort,
        config.schedulerHealthPort,
        config.watchdogHealthPort,
      ];
      for (const port of probePorts) expect(await readyz(port, 2_000)).toBe(200);

      const queue = h.unique();
      const worker = h.worker({ queue });
      worker.register('napper', async (ctx, n: number) => {
        const before = await ctx.step('before', () => n);
        await ctx.sleep('nap', 3_000);
        return ctx.step('after', () => before * 10);
      });
      await worker.start();
      const client = h.client();
      const runs = await Promise.all([1, 2, 3, 4, 5].map((n) => client.start('napper', n, { queue })));
      const ids = runs.map((r) => r.id);
      const sleeping = async () => {
        const [row] = await h.query<{ n: number; last_wake: Date }>(
          `SELECT count(*)::int AS n, max(wake_up_at) AS last_wake FROM workflow_runs
           WHERE id = ANY($1) AND status = 'SLEEPING'`,
          [ids],
        );
        return row!;
      };
      const asleep = await waitFor(async () => {
        const row = await sleeping();
        return row.n === ids.length ? row : null;
      }, 'every run asleep');

      // The scheduler fires every second.
      const scheduleId = h.unique('every-second');
      await client.schedules.create({ scheduleId, workflowType: 'tick', cron: '* * * * * *', queue: h.unique() });
      const fired = (after: Date) =>
        h.query(
          `SELECT r.id FROM workflow_runs r JOIN schedules s ON s.id = r.schedule_id
           WHERE s.schedule_id = $1 AND r.fire_time > $2`,
          [scheduleId, after],
        );
      await waitFor(async () => (await fired(new Date(0))).length > 0, 'a first scheduled run');

      proxy.blackHole();
      const hungAt = Date.now();
      for (const port of probePorts) expect(await readyz(port, 2_000)).toBe(503);
      // The hang lasts past every wake-up time and past the query timeout: nobody wakes the sleepers.
      await waitFor(async () => {
        const [now] = await h.query<{ t: Date }>(`SELECT now() AS t`);
        return now!.t > asleep.last_wake && Date.now() - hungAt > config.dbQueryTimeoutMs + 1_000;
      }, 'the wake-up times to pass during the hang');
      for (const port of probePorts) expect(await readyz(port, 2_000)).toBe(503);
      expect((await sleeping()).n).toBe(ids.length);
      expect(proxy.swallowed).toBeGreaterThan(0);

      proxy.heal();
      const healedAt = new Date();
      for (const port of probePorts) {
        await waitFor(async () => (await readyz(port, 2_000)) === 200, `port ${port} ready again`, {
          timeoutMs: 20_000,
          intervalMs: 200,
        });
      }
      // The watchdog wakes the sleepers, matching hands them out, the frontend takes their results.
      await waitFor(
        async () => {
          const [row] = await h.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM workflow_runs WHERE id = ANY($1) AND status = 'COMPLETED'`,
            [ids],
          );
          return row!.n === ids.length;
        },
        'every run completed after the hang',
        { timeoutMs: 25_000 },
      );
      expect(await Promise.all(ids.map((id) => client.result(id)))).toEqual([10, 20, 30, 40, 50]);
      // The scheduler fires again.
      await waitFor(async () => (await fired(healedAt)).length > 0, 'a run fired after the hang', {
        timeoutMs: 15_000,
      });
      // And a new run goes all the way through.
      const fresh = await client.start('napper', 6, { queue });
      await expect(client.result(fresh.id)).resolves.toBe(60);

      await client.schedules.delete(scheduleId);
      await worker.stop();
    });
  });
});
