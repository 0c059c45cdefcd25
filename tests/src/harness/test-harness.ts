import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { bootstrapFrontend } from '@baton/frontend';
import { bootstrapMatching } from '@baton/matching';
import type { RunningApp } from '@baton/runtime';
import { bootstrapScheduler } from '@baton/scheduler';
import { Client, Worker } from '@baton/sdk';
import type { WorkerOptions } from '@baton/sdk';
import { bootstrapWatchdog } from '@baton/watchdog';
import { Pool } from 'pg';
import request from 'supertest';
import { freePort } from './ports';
import { TEMPLATE_DATABASE, adminQuery, databaseUrl, ensureNats } from './services';

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
  matchingFallbackSecs?: number;
  wakeBatchSize?: number;
  reconcileIntervalSecs?: number;
  recoveryBatchSize?: number;
  /** Apps started in this process (default all four); others can be spawned as child processes. */
  apps?: AppName[];
  /** Any other config field, applied last. */
  overrides?: Partial<BatonConfig>;
}

const BOOT: Record<AppName, (config: BatonConfig) => Promise<RunningApp>> = {
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
    BATON_WATCHDOG_INTERVAL: `${config.watchdogIntervalMs}ms`,
    BATON_SCHEDULER_INTERVAL: `${config.schedulerIntervalMs}ms`,
    BATON_MATCHING_FALLBACK_INTERVAL: `${config.matchingFallbackMs}ms`,
    BATON_POLL_DEADLINE_MARGIN: `${config.pollDeadlineMarginMs}ms`,
    BATON_WAKE_BATCH_SIZE: String(config.wakeBatchSize),
    BATON_RECONCILE_INTERVAL: `${config.reconcileIntervalMs}ms`,
    BATON_RECOVERY_BATCH_SIZE: String(config.recoveryBatchSize),
    BATON_DB_POOL_SIZE: String(config.dbPoolSize),
    BATON_RUN_MIGRATIONS: 'false',
    BATON_LOG_LEVEL: config.logLevel,
  };
}

/** An app running as a child process (`node apps/<name>/dist/main.js`), for kill/restart tests. */
export class ChildApp {
  private child?: ChildProcess;
  private exited?: Promise<number | null>;

  constructor(
    readonly name: AppName,
    private readonly env: Record<string, string>,
  ) {}

  start(): void {
    const main = join(__dirname, '..', '..', '..', 'apps', this.name, 'dist', 'main.js');
    const child = spawn(process.execPath, [main], { env: { ...process.env, ...this.env }, stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** SIGKILL: a crash, nothing cleaned up. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill(signal);
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.kill('SIGTERM');
    this.start();
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
  private counter = 0;

  private constructor(
    readonly config: BatonConfig,
    private readonly database: string,
  ) {
    this.db = new Pool({ connectionString: config.databaseUrl, max: 4 });
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
    await adminQuery(`CREATE DATABASE ${database} TEMPLATE ${TEMPLATE_DATABASE}`);
    const config = buildConfig({
      databaseUrl: databaseUrl(database),
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
      matchingFallbackMs: secs(test.matchingFallbackSecs, 0.2),
      pollDeadlineMarginMs: 100,
      wakeBatchSize: test.wakeBatchSize ?? 500,
      reconcileIntervalMs: secs(test.reconcileIntervalSecs, 60),
      recoveryBatchSize: test.recoveryBatchSize ?? 500,
      dbPoolSize: 6,
      runMigrations: false,
      logLevel: (process.env.BATON_TEST_LOG_LEVEL as BatonConfig['logLevel']) ?? 'error',
      ...test.overrides,
    });
    const harness = new TestHarness(config, database);
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

  client(namespace = 'default'): Client {
    const client = new Client({ address: this.grpcAddress, namespace });
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
    this.apps.set(name, await BOOT[name](this.config));
  }

  async stopApp(name: AppName): Promise<void> {
    const app = this.apps.get(name);
    this.apps.delete(name);
    await app?.close();
  }

  /** Runs an app as a child process (requires `pnpm build`). */
  spawnApp(name: AppName, overrides: Record<string, string> = {}): ChildApp {
    const child = new ChildApp(name, { ...configToEnv(this.config), ...overrides });
    child.start();
    this.children.add(child);
    return child;
  }

  async query<T = Record<string, any>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query(sql, params)).rows as T[];
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.workers].map((w) => w.stop()));
    for (const client of this.clients) client.close();
    await Promise.allSettled([...this.children].map((c) => c.kill()));
    for (const name of [...this.apps.keys()].reverse()) await this.stopApp(name).catch(() => undefined);
    await this.db.end().catch(() => undefined);
    await adminQuery(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`).catch(() => undefined);
  }
}
