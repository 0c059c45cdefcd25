import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import type { Row } from '@baton/persistence';
import { bootstrapFrontend } from '@baton/frontend';
import { bootstrapMatching } from '@baton/matching';
import { LocalDispatch } from '@baton/runtime';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { bootstrapScheduler } from '@baton/scheduler';
import { Client, Worker } from '@baton/sdk';
import type { ConnectionOptions, WorkerOptions } from '@baton/sdk';
import { bootstrapWatchdog } from '@baton/watchdog';
import { Client as PgClient, Pool } from 'pg';
import request from 'supertest';
import prepareTemplateDatabase from './global-setup';
import { freePort } from './ports';
import { POSTGRES_ADMIN_URL, TEMPLATE_DATABASE, adminQuery, databaseUrl, ensureNats } from './services';
import { TcpProxy } from './tcp-proxy';
import { waitFor } from './wait';

export type AppName = 'frontend' | 'matching' | 'scheduler' | 'watchdog';
export const ALL_APPS: AppName[] = ['frontend', 'matching', 'scheduler', 'watchdog'];

/** Intervals in seconds (fractions allowed), as the seed plan's TestConfig; defaults are its fast values. */
export interface TestConfig {
  schedulerIntervalSecs?: number;
  watchdogIntervalSecs?: number;
  workerStaleThresholdSecs?: number;
  pollTimeoutSecs?: number;
  heartbeatIntervalSecs?: number;
  leaseDurationSecs?: number;
  /** First lease of a claim until the worker acknowledges it; default the product's 5 s, never above the lease. */
  claimAckTimeoutSecs?: number;
  matchingFallbackSecs?: number;
  wakeBatchSize?: number;
  reconcileIntervalSecs?: number;
  recoveryBatchSize?: number;
  /** Apps started in this process (default all four); others can be spawned as child processes. */
  apps?: AppName[];
  /** The apps reach PostgreSQL through a TcpProxy (`h.databaseProxy`) that the test can cut and restore. */
  databaseThroughProxy?: boolean;
  /** Any other config field, applied last. */
  overrides?: Partial<BatonConfig>;
}

const BOOT: Record<AppName, (config: BatonConfig, deps: AppDeps) => Promise<RunningApp>> = {
  frontend: bootstrapFrontend,
  matching: bootstrapMatching,
  scheduler: bootstrapScheduler,
  watchdog: bootstrapWatchdog,
};

const secs = (value: number | undefined, fallback: number) => Math.round((value ?? fallback) * 1000);

/** The environment a child-process app needs to join this harness's deployment. */
export function configToEnv(config: BatonConfig): Record<string, string> {
  return {
    DATABASE_URL: config.databaseUrl!,
    NATS_URL: config.natsUrl!,
    BATON_SUBJECT_PREFIX: config.subjectPrefix,
    BATON_HOST: config.host,
    BATON_HTTP_PORT: String(config.httpPort),
    BATON_GRPC_PORT: String(config.grpcPort),
    BATON_MATCHING_HEALTH_PORT: String(config.matchingHealthPort),
    BATON_SCHEDULER_HEALTH_PORT: String(config.schedulerHealthPort),
    BATON_WATCHDOG_HEALTH_PORT: String(config.watchdogHealthPort),
    BATON_POLL_TIMEOUT: `${config.pollTimeoutMs}ms`,
    BATON_HEARTBEAT_INTERVAL: `${config.heartbeatIntervalMs}ms`,
    BATON_WORKER_STALE_THRESHOLD: `${config.workerStaleThresholdMs}ms`,
    BATON_LEASE_DURATION: `${config.leaseDurationMs}ms`,
    BATON_CLAIM_ACK_TIMEOUT: `${config.claimAckTimeoutMs}ms`,
    BATON_RECOVERY_LIMIT: String(config.recoveryLimit),
    BATON_RECOVERY_BACKOFF: `${config.recoveryBackoffMs}ms`,
    BATON_RECOVERY_BACKOFF_MAX: `${config.recoveryBackoffMaxMs}ms`,
    BATON_WATCHDOG_INTERVAL: `${config.watchdogIntervalMs}ms`,
    BATON_SCHEDULER_INTERVAL: `${config.schedulerIntervalMs}ms`,
    BATON_MATCHING_FALLBACK_INTERVAL: `${config.matchingFallbackMs}ms`,
    BATON_POLL_DEADLINE_MARGIN: `${config.pollDeadlineMarginMs}ms`,
    BATON_WAKE_BATCH_SIZE: String(config.wakeBatchSize),
    BATON_RECONCILE_INTERVAL: `${config.reconcileIntervalMs}ms`,
    BATON_RECOVERY_BATCH_SIZE: String(config.recoveryBatchSize),
    BATON_DB_POOL_SIZE: String(config.dbPoolSize),
    BATON_DB_CONNECT_TIMEOUT: `${config.dbConnectTimeoutMs}ms`,
    BATON_DB_QUERY_TIMEOUT: `${config.dbQueryTimeoutMs}ms`,
    BATON_DB_READY_TIMEOUT: `${config.dbReadyTimeoutMs}ms`,
    BATON_PAYLOAD_LIMIT_BYTES: String(config.payloadLimitBytes),
    BATON_MAX_SLEEP: `${config.maxSleepMs}ms`,
    BATON_RUN_MIGRATIONS: 'false',
    BATON_LOG_LEVEL: config.logLevel,
    BATON_AUTH: config.auth,
    BATON_RATE_LIMIT: String(config.rateLimitPerSecond),
    BATON_RATE_LIMIT_BURST: String(config.rateLimitBurst),
    BATON_MAX_POLLS_PER_WORKER: String(config.maxPollsPerWorker),
    BATON_LOG_FORMAT: config.logFormat,
    BATON_RETENTION: `${config.retentionMs}ms`,
    BATON_RETENTION_BATCH_SIZE: String(config.retentionBatchSize),
    BATON_RETENTION_INTERVAL: `${config.retentionIntervalMs}ms`,
    BATON_GRPC_MAX_CONNECTION_AGE: `${config.grpcMaxConnectionAgeMs}ms`,
    BATON_GRPC_REFLECTION: String(config.grpcReflection),
    BATON_UI: String(config.ui),
    ...optionalEnv({
      BATON_ADMIN_KEY: config.adminKey,
      BATON_TLS_CERT: config.tlsCertFile,
      BATON_TLS_KEY: config.tlsKeyFile,
      BATON_TLS_CLIENT_CA: config.tlsClientCaFile,
      NATS_USER: config.natsUser,
      NATS_PASSWORD: config.natsPassword,
      NATS_TOKEN: config.natsToken,
      NATS_CREDS: config.natsCredsFile,
      NATS_NKEY_SEED: config.natsNkeySeedFile,
      NATS_TLS_CA: config.natsTlsCaFile,
      NATS_TLS_CERT: config.natsTlsCertFile,
      NATS_TLS_KEY: config.natsTlsKeyFile,
    }),
  };
}

/** The variables whose settings are set. */
function optionalEnv(vars: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** How a child app ended: `signal` is set when a signal killed it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The most of a child's output kept for error messages. */
const CHILD_OUTPUT_CHARS = 20_000;

/**
 * An app running as its own process, compiled from source like the rest of
 * the suite (run-from-source.js), for kill and restart tests: a SIGKILL here
 * is a real crash, sockets and transactions torn down by the kernel.
 */
export class ChildApp {
  private child?: ChildProcess;
  private exit?: Promise<ChildExit>;
  private log = '';

  constructor(
    readonly name: AppName,
    private readonly env: Record<string, string>,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The tail of what the process wrote (stdout and stderr), for diagnosing a failed start. */
  get output(): string {
    return this.log;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const runner = join(__dirname, 'run-from-source.js');
    const child = spawn(process.execPath, [runner, this.name], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.log = '';
    // Read both pipes: a full pipe would block the child.
    const keep = (chunk: Buffer) => (this.log = (this.log + chunk.toString()).slice(-CHILD_OUTPUT_CHARS));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Resolves once the app answers its readiness probe (its database is reachable). */
  async ready(timeoutMs = 30_000): Promise<void> {
    const port = Number(this.env[HEALTH_PORT_ENV[this.name]]);
    await waitFor(
      async () => {
        if (!this.running) throw new Error(`${this.name} exited: ${this.output}`);
        const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      `${this.name} (pid ${this.pid}) to be ready on port ${port}`,
      { timeoutMs, intervalMs: 50 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- ${this.name} output ---\n${this.output}`);
    });
  }

  /** Sends `signal` (default SIGKILL: a crash, nothing cleaned up) and waits for the process to end. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ChildExit | undefined> {
    if (!this.child || !this.exit) return undefined;
    if (this.running) this.child.kill(signal);
    return this.exit;
  }

  /** Graceful stop, then a new process with the same configuration (same ports). */
  async restart(): Promise<void> {
    await this.kill('SIGTERM');
    this.start();
  }
}

/** The port each app answers /readyz on. */
const HEALTH_PORT_ENV: Record<AppName, string> = {
  frontend: 'BATON_HTTP_PORT',
  matching: 'BATON_MATCHING_HEALTH_PORT',
  scheduler: 'BATON_SCHEDULER_HEALTH_PORT',
  watchdog: 'BATON_WATCHDOG_HEALTH_PORT',
};

/** PostgreSQL: this database does not exist (a template dropped or renamed under us). */
const INVALID_CATALOG_NAME = '3D000';
/** PostgreSQL: another session is connected to the database (template or the one being dropped). */
const OBJECT_IN_USE = '55006';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The per-file database, cloned from the template (built here if it is missing). */
async function createTestDatabase(database: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${database} TEMPLATE ${TEMPLATE_DATABASE}`);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= 5 || (code !== INVALID_CATALOG_NAME && code !== OBJECT_IN_USE)) throw err;
      // The migrations changed after this run's global setup (the template is named after them),
      // or a session is reading the template: build it if needed, then try again.
      if (code === INVALID_CATALOG_NAME) await prepareTemplateDatabase();
      else await pause(200 * attempt);
    }
  }
}

/**
 * Drops the per-file database once every session on it has ended. Closing a
 * pool returns before PostgreSQL has finished the backends it used, so a
 * plain DROP right away may find them still there; FORCE would terminate
 * sessions of pools still open somewhere in this process, whose idle clients
 * then raise errors nobody listens to. So: wait for the sessions to go, and
 * force only what is still left after that.
 */
async function dropTestDatabase(database: string): Promise<void> {
  const sessions = async () => {
    const client = new PgClient({ connectionString: POSTGRES_ADMIN_URL });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database],
      );
      return rows[0]!.n;
    } finally {
      await client.end();
    }
  };
  const closed = await waitFor(async () => (await sessions()) === 0, `sessions on ${database} to end`, {
    timeoutMs: 10_000,
    intervalMs: 50,
  }).then(
    () => true,
    () => false,
  );
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`DROP DATABASE IF EXISTS ${database}${closed && attempt === 1 ? '' : ' WITH (FORCE)'}`);
      return;
    } catch (err) {
      if (attempt >= 3) {
        console.warn(`could not drop test database ${database}: ${(err as Error).message}`);
        return;
      }
      await pause(200 * attempt);
    }
  }
}

/**
 * One per test file: a fresh database cloned from the migrated template, a
 * unique NATS subject prefix, and the four apps in this process with the
 * given intervals. Hands out SDK clients and workers (stopped at the end)
 * and a pg pool for assertions on the database.
 */
export class TestHarness {
  readonly db: Pool;
  private readonly apps = new Map<AppName, RunningApp>();
  private readonly workers = new Set<Worker>();
  private readonly clients = new Set<Client>();
  private readonly children = new Set<ChildApp>();
  private readonly proxies = new Set<TcpProxy>();
  private counter = 0;
  private stopping?: Promise<void>;
  /**
   * The matching dispatcher(s) of this process, shared with the frontend as
   * the all-in-one launcher shares them (eager dispatch); tests may read
   * through it whether a poll waits in matching.
   */
  readonly localDispatch = new LocalDispatch();
  private readonly deps: AppDeps = { localDispatch: this.localDispatch };

  private constructor(
    readonly config: BatonConfig,
    private readonly database: string,
    /** The test database without the proxy (equal to config.databaseUrl unless `databaseThroughProxy`). */
    readonly directDatabaseUrl: string,
    /** With `databaseThroughProxy`: the link between the apps and PostgreSQL, for outage tests. */
    readonly databaseProxy?: TcpProxy,
  ) {
    if (databaseProxy) this.proxies.add(databaseProxy);
    // The test's own pool goes straight to PostgreSQL, so assertions work while the apps' link is cut.
    this.db = new Pool({ connectionString: directDatabaseUrl, max: 4 });
    // An idle client whose connection dies (a test restarting a service, teardown) makes the pool emit
    // 'error'; without a listener that is an uncaught exception that ends the whole test process.
    // The pool has already discarded the client; the next query opens a new one.
    this.db.on('error', () => undefined);
  }

  static async start(test: TestConfig = {}): Promise<TestHarness> {
    // A free port can be taken by another process (another Jest run on this machine) before an
    // app binds it: start over on fresh ports rather than fail the whole file.
    for (let attempt = 1; ; attempt++) {
      try {
        return await TestHarness.boot(test);
      } catch (err) {
        if (attempt >= 3 || !/EADDRINUSE/.test(String((err as Error)?.message))) throw err;
      }
    }
  }

  private static async boot(test: TestConfig): Promise<TestHarness> {
    const id = randomBytes(5).toString('hex');
    const database = `baton_test_${id}`;
    await createTestDatabase(database);
    const direct = databaseUrl(database);
    const databaseProxy = test.databaseThroughProxy ? await TcpProxy.start(new URL(direct).host) : undefined;
    const viaProxy = new URL(direct);
    if (databaseProxy) viaProxy.host = databaseProxy.address;
    const config = buildConfig({
      databaseUrl: viaProxy.toString(),
      natsUrl: await ensureNats(),
      subjectPrefix: `test.${id}`,
      host: '127.0.0.1',
      httpPort: await freePort(),
      grpcPort: await freePort(),
      matchingHealthPort: await freePort(),
      schedulerHealthPort: await freePort(),
      watchdogHealthPort: await freePort(),
      schedulerIntervalMs: secs(test.schedulerIntervalSecs, 1),
      watchdogIntervalMs: secs(test.watchdogIntervalSecs, 1),
      workerStaleThresholdMs: secs(test.workerStaleThresholdSecs, 2),
      pollTimeoutMs: secs(test.pollTimeoutSecs, 2),
      heartbeatIntervalMs: secs(test.heartbeatIntervalSecs, 0.5),
      leaseDurationMs: secs(test.leaseDurationSecs, 5),
      claimAckTimeoutMs: Math.min(secs(test.claimAckTimeoutSecs, 5), secs(test.leaseDurationSecs, 5)),
      matchingFallbackMs: secs(test.matchingFallbackSecs, 0.2),
      pollDeadlineMarginMs: 100,
      wakeBatchSize: test.wakeBatchSize ?? 500,
      reconcileIntervalMs: secs(test.reconcileIntervalSecs, 60),
      recoveryBatchSize: test.recoveryBatchSize ?? 500,
      dbPoolSize: 6,
      runMigrations: false,
      logLevel: (process.env.BATON_TEST_LOG_LEVEL as BatonConfig['logLevel']) ?? 'error',
      // Loopback only, as `pnpm start`; the security tests turn keys on.
      auth: 'off',
      ...test.overrides,
    });
    const harness = new TestHarness(config, database, direct, databaseProxy);
    try {
      for (const name of test.apps ?? ALL_APPS) await harness.startApp(name);
    } catch (err) {
      await harness.stop();
      throw err;
    }
    return harness;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.config.grpcPort}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.config.httpPort}`;
  }

  /** supertest against the frontend's HTTP API. */
  http() {
    return request(this.httpUrl);
  }

  /** A name unique within this file, for queues and namespaces that keep tests apart. */
  unique(prefix = 'q'): string {
    return `${prefix}-${++this.counter}-${randomBytes(3).toString('hex')}`;
  }

  /** A client of this deployment; `connection` carries an API key (and TLS) where the test needs them. */
  client(namespace = 'default', connection: ConnectionOptions = {}): Client {
    const client = new Client({ address: this.grpcAddress, namespace, ...connection });
    this.clients.add(client);
    return client;
  }

  /** A worker on this deployment; stopped (quickly) when the harness stops. */
  worker(options: WorkerOptions = {}): Worker {
    const worker = new Worker({ address: this.grpcAddress, shutdownGraceMs: 2_000, ...options });
    this.workers.add(worker);
    return worker;
  }

  async startApp(name: AppName): Promise<void> {
    if (this.apps.has(name)) return;
    this.apps.set(name, await BOOT[name](this.config, this.deps));
  }

  async stopApp(name: AppName): Promise<void> {
    const app = this.apps.get(name);
    this.apps.delete(name);
    await app?.close();
  }

  /**
   * Runs an app as a child process on this deployment (same database, NATS
   * prefix and ports: stop the in-process one first), compiled from source.
   * Await `ready()` before relying on it; it is killed when the harness stops.
   */
  spawnApp(name: AppName, overrides: Record<string, string> = {}): ChildApp {
    const child = new ChildApp(name, { ...configToEnv(this.config), ...overrides });
    child.start();
    this.children.add(child);
    return child;
  }

  /** A TCP proxy to `target` (default: the frontend's gRPC port) that the test can cut and restore. */
  async proxy(target = this.grpcAddress): Promise<TcpProxy> {
    const proxy = await TcpProxy.start(target);
    this.proxies.add(proxy);
    return proxy;
  }

  /** Rows read column by column, as the persistence row mappers read them. */
  async query<T = Row>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query(sql, params)).rows as T[];
  }

  /** Stops everything this harness started and drops its database. Safe to call twice. */
  stop(): Promise<void> {
    return (this.stopping ??= this.teardown());
  }

  private async teardown(): Promise<void> {
    // A worker behind a cut proxy would spend its whole call deadline deregistering: reconnect it first.
    await Promise.allSettled([...this.proxies].map((p) => p.restore()));
    await Promise.allSettled([...this.workers].map((w) => w.stop()));
    for (const client of this.clients) client.close();
    await Promise.allSettled([...this.children].map((c) => c.kill()));
    for (const name of [...this.apps.keys()].reverse()) await this.stopApp(name).catch(() => undefined);
    // Only now: the apps may still need a proxied link (to the database) while they shut down.
    for (const proxy of this.proxies) proxy.close();
    await this.db.end().catch(() => undefined);
    await dropTestDatabase(this.database);
  }
}
