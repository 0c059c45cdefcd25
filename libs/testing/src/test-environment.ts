import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '@baton/contracts';
import type { BatonConfig, Duration, TimerKind } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { Sql, TimeSkipRepository, createDataSource } from '@baton/persistence';
import type { TimeSkip } from '@baton/persistence';
import { Client, Worker } from '@baton/sdk';
import type { WorkerOptions, WorkflowHandler } from '@baton/sdk';
import { startAllInOne } from '@baton/server';
import type { AllInOne } from '@baton/server';
import { createFreshDatabase } from './database';
import type { FreshDatabase } from './database';
import { bindConflict, freePort } from './ports';
import { TestClient } from './test-client';
import { TimeSkipper } from './time-skipper';

/** How a TestEnvironment runs. Every field is optional: `TestEnvironment.start()` needs nothing installed. */
export interface TestEnvironmentOptions {
  /**
   * A PostgreSQL server to use instead of starting an embedded one (faster,
   * e.g. `process.env.DATABASE_URL` in CI). The environment creates a
   * database of its own on that server and drops it on stop, unless
   * `freshDatabase` is false.
   */
  databaseUrl?: string;
  /**
   * With `databaseUrl`: true (default) creates a new database for this
   * environment (needs CREATEDB); false uses the URL's database as it is,
   * migrating it. Time skipping then moves every timer in that database, so
   * it must belong to this environment alone.
   */
  freshDatabase?: boolean;
  /** Namespace of `env.client` and of workers made by `env.worker()`. Default `default`. */
  namespace?: string;
  /**
   * `auto` (default): `env.client.result()` and `waitForTerminal()` skip
   * time whenever the environment is idle. `manual`: time moves only by
   * `env.skipTime()`.
   */
  timeSkipping?: 'auto' | 'manual';
  /** The server's log level. Default `error`: a test's output shows the test. */
  logLevel?: BatonConfig['logLevel'];
  /** Any other server setting (intervals, limits). Ports, database, bus and auth (off) are the environment's. */
  config?: Partial<BatonConfig>;
}

/** `env.worker()`: a Worker's options, without the address, and the workflows it runs. */
export interface TestWorkerOptions extends Omit<WorkerOptions, 'address'> {
  /** Workflow type → handler, registered before the worker starts. */
  workflows: Readonly<Record<string, WorkflowHandler<never, unknown>>>;
}

/** Start attempts when a port picked for the server is taken before it binds. */
const START_ATTEMPTS = 3;
/** A worker's stop waits this long for handlers still running (the SDK's default is 30 s). */
const WORKER_SHUTDOWN_GRACE_MS = 2_000;
const TIMER_KINDS: readonly TimerKind[] = ['wake', 'deadline', 'schedule'];

/**
 * A whole Baton server in this process (the all-in-one: frontend, matching,
 * scheduler and watchdog on an in-process bus) on an embedded PostgreSQL or a
 * database of its own, with a virtual clock: a workflow that sleeps for a day
 * finishes in milliseconds, through the real server, replay and determinism
 * checks.
 *
 * Skipping time moves every due time of the environment closer: sleeps,
 * retry backoffs, signal-wait timeouts, cron fires, and run deadlines too
 * (a run with a 1 h timeout fails when 2 h are skipped, as it would in real
 * time). Code inside workflows still reads the real clock; `env.now()` is
 * the virtual one.
 *
 * ```ts
 * const env = await TestEnvironment.start();
 * await env.worker({ workflows: { reminder } });
 * const run = await env.client.start('reminder', { to: 'ada' });
 * expect(await env.client.result(run.id)).toEqual({ sent: true }); // the 24 h sleep is skipped
 * await env.stop();
 * ```
 */
export class TestEnvironment {
  /** A client of the environment's namespace; with automatic time skipping, its waits for results skip time. */
  readonly client: Client;
  private readonly workers: Worker[] = [];
  private stopping?: Promise<void>;

  private constructor(
    private readonly server: AllInOne,
    private readonly skipper: TimeSkipper,
    private readonly cleanup: () => Promise<void>,
    readonly namespace: string,
    auto: boolean,
  ) {
    this.client = new TestClient({ address: this.address, namespace }, auto ? skipper : null);
  }

  /** Starts the server and its database on free ports; resolves once it serves. */
  static async start(options: TestEnvironmentOptions = {}): Promise<TestEnvironment> {
    const owned: Array<() => Promise<void>> = [];
    // In reverse order of creation, every step tried: the first failure is reported once all have run.
    const cleanup = async () => {
      const failures: unknown[] = [];
      for (const step of [...owned].reverse()) await step().catch((err: unknown) => failures.push(err));
      if (failures.length > 0) throw failures[0];
    };
    try {
      const database = await prepareDatabase(options, owned);
      const server = await startServer(options, database);
      owned.push(() => server.close());
      const dataSource = createDataSource({
        url: server.config.databaseUrl!,
        poolSize: 2,
        applicationName: 'baton-testing',
      });
      await dataSource.initialize();
      owned.push(() => dataSource.destroy());
      const events = frontendEvents(server);
      const skipper = new TimeSkipper(new TimeSkipRepository(new Sql(dataSource)), (skip) => nudge(events, skip));
      return new TestEnvironment(
        server,
        skipper,
        cleanup,
        options.namespace ?? 'default',
        (options.timeSkipping ?? 'auto') === 'auto',
      );
    } catch (err) {
      await cleanup().catch(() => undefined);
      throw err;
    }
  }

  /** host:port of the server's gRPC API, for Clients and Workers of your own. */
  get address(): string {
    return `127.0.0.1:${this.server.config.grpcPort}`;
  }

  /** The database the server runs on: query it for assertions (the environment's own, see `freshDatabase`). */
  get databaseUrl(): string {
    return this.server.config.databaseUrl!;
  }

  /** The embedded PostgreSQL's data directory, removed on stop; null on a `databaseUrl`. */
  get dataDirectory(): string | null {
    return this.server.embeddedDatabase?.dir ?? null;
  }

  /** The virtual clock: real time plus every skip so far. */
  now(): Date {
    return this.skipper.now();
  }

  /**
   * Moves the clock forward: every due time of the environment comes
   * `duration` closer (`'24h'`, `'7d'`, ms). Resolves once moved; what came
   * due then runs as soon as the server takes it (wait for it with
   * `env.client.result`).
   */
  skipTime(duration: Duration): Promise<void> {
    return this.skipper.skip(duration);
  }

  /**
   * A started Worker on the environment's server running `workflows`
   * (namespace: the environment's; queue: `default` unless given). Stopped
   * by `env.stop()`.
   */
  async worker(options: TestWorkerOptions): Promise<Worker> {
    if (this.stopping) throw new Error('the test environment is stopped');
    const { workflows, ...workerOptions } = options;
    const worker = new Worker({
      namespace: this.namespace,
      shutdownGraceMs: WORKER_SHUTDOWN_GRACE_MS,
      ...workerOptions,
      address: this.address,
    });
    for (const [type, handler] of Object.entries(workflows)) worker.register(type, handler);
    this.workers.push(worker);
    await worker.start();
    return worker;
  }

  /** Stops the workers, the server and its database, and deletes what the environment created. Idempotent. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      await this.skipper.close();
      await Promise.allSettled(this.workers.map((w) => w.stop()));
      this.client.close();
      await this.cleanup();
    })());
  }
}

/**
 * Where the server's data goes: the URL of a database (the user's, or one
 * made for this environment), or, without a databaseUrl, a temporary
 * directory for the embedded PostgreSQL. What it creates is registered in
 * `owned` to be removed on stop.
 */
async function prepareDatabase(
  options: TestEnvironmentOptions,
  owned: Array<() => Promise<void>>,
): Promise<{ url?: string; dataDir?: string }> {
  if (!options.databaseUrl) {
    const dataDir = await mkdtemp(join(tmpdir(), 'baton-testing-'));
    owned.push(() => rm(dataDir, { recursive: true, force: true }));
    // As root, PostgreSQL runs as `postgres`, which must be able to enter the directory (mkdtemp makes it 0700).
    await chmod(dataDir, 0o755);
    return { dataDir };
  }
  if (options.freshDatabase === false) return { url: options.databaseUrl };
  const fresh: FreshDatabase = await createFreshDatabase(options.databaseUrl);
  owned.push(() => fresh.drop());
  return { url: fresh.url };
}

/** The all-in-one on free ports, tried again with new ones when a port is taken in the gap before it binds. */
async function startServer(options: TestEnvironmentOptions, database: { url?: string; dataDir?: string }) {
  for (let attempt = 1; ; attempt++) {
    const config = buildConfig({
      host: '127.0.0.1',
      // Port 0: the HTTP servers (API, health) take whatever the kernel gives; only gRPC must be known.
      httpPort: 0,
      matchingHealthPort: 0,
      schedulerHealthPort: 0,
      watchdogHealthPort: 0,
      grpcPort: await freePort(),
      logLevel: options.logLevel ?? 'error',
      ...options.config,
      // The environment's client and workers carry no keys, and its apps share one process.
      auth: 'off',
      databaseUrl: database.url,
      natsUrl: undefined,
      ...(database.dataDir ? { dataDir: database.dataDir } : {}),
    });
    try {
      return await startAllInOne(config, { embeddedPostgresPort: await freePort() });
    } catch (err) {
      if (attempt >= START_ATTEMPTS || !bindConflict(err)) throw err;
    }
  }
}

/** The bus's event publisher, as the frontend holds it (every app in the process shares the in-process bus). */
function frontendEvents(server: AllInOne): RunEvents {
  const frontend = server.apps.find((app) => app.name === 'frontend');
  if (!frontend) throw new Error('the all-in-one server has no frontend app');
  return frontend.app.get(RunEvents);
}

/**
 * After a skip the precise timers of the watchdog and scheduler still wait
 * for the old due times: "timer due now" makes each run a pass and read its
 * next due time again. Queues whose runs moved are rung, so a run that came
 * due is claimed now rather than on matching's fallback tick.
 */
function nudge(events: RunEvents, skip: TimeSkip): void {
  const now = new Date();
  for (const kind of TIMER_KINDS) events.timerDue(kind, now);
  for (const { namespace, queue } of skip.queues) events.workAvailable(namespace, queue);
}
