import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createDataSource, runMigrations } from '@baton/persistence';
import { Client as PgClient } from 'pg';
import prepareTemplateDatabase from '../harness/global-setup';
import { freePort } from '../harness/ports';
import { POSTGRES_ADMIN_URL, TEMPLATE_DATABASE, portOpen } from '../harness/services';
import { waitFor } from '../harness/wait';
import { LEDGER_DDL } from './workflow';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function query(url: string, sql: string, params: unknown[] = []): Promise<void> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql, params);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The chaos run's database. `shared`: a fresh clone of the migrated template on
 * the shared server (127.0.0.1:5432), which must never be restarted, so its
 * fault is an outage of this one database. `private`: a throwaway PostgreSQL
 * cluster the run starts itself, which can really be crashed and restarted.
 */
export interface ChaosDatabase {
  readonly kind: 'shared' | 'private';
  readonly name: string;
  readonly url: string;
  /**
   * "PostgreSQL outage": the database refuses new connections and every open
   * session is terminated (ALTER DATABASE … ALLOW_CONNECTIONS false +
   * pg_terminate_backend), for `ms`; then it accepts connections again.
   */
  outage(ms: number): Promise<void>;
  /** "PostgreSQL restart" (private cluster only): crash the server (immediate stop), keep it down `ms`, start it. */
  restart?(ms: number): Promise<void>;
  dispose(): Promise<void>;
}

abstract class BaseDatabase {
  constructor(
    readonly name: string,
    protected readonly adminUrl: string,
  ) {}

  get url(): string {
    return withDatabase(this.adminUrl, this.name);
  }

  async outage(ms: number): Promise<void> {
    await query(this.adminUrl, `ALTER DATABASE ${this.name} ALLOW_CONNECTIONS false`);
    try {
      // Twice: a session that was half-way through its start-up during the ALTER can still slip in.
      for (const pause of [0, 200]) {
        await sleep(pause);
        await query(
          this.adminUrl,
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
          [this.name],
        );
      }
      await sleep(Math.max(0, ms - 200));
    } finally {
      await query(this.adminUrl, `ALTER DATABASE ${this.name} ALLOW_CONNECTIONS true`);
    }
  }

  protected async createLedger(): Promise<void> {
    await query(this.url, LEDGER_DDL);
  }
}

class SharedDatabase extends BaseDatabase implements ChaosDatabase {
  readonly kind = 'shared' as const;

  static async create(id: string): Promise<SharedDatabase> {
    await prepareTemplateDatabase();
    const db = new SharedDatabase(`baton_chaos_${id}`, POSTGRES_ADMIN_URL);
    await query(POSTGRES_ADMIN_URL, `CREATE DATABASE ${db.name} TEMPLATE ${TEMPLATE_DATABASE}`);
    await db.createLedger();
    return db;
  }

  async dispose(): Promise<void> {
    await query(this.adminUrl, `ALTER DATABASE ${this.name} ALLOW_CONNECTIONS true`).catch(() => undefined);
    await query(this.adminUrl, `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`).catch(() => undefined);
  }
}

/** pg_ctl and friends: CHAOS_PG_BIN, else the newest /usr/lib/postgresql/<v>/bin. */
export function postgresBinDir(): string | null {
  if (process.env.CHAOS_PG_BIN)
    return existsSync(join(process.env.CHAOS_PG_BIN, 'pg_ctl')) ? process.env.CHAOS_PG_BIN : null;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : null;
}

class PrivateDatabase extends BaseDatabase implements ChaosDatabase {
  readonly kind = 'private' as const;
  private stopped = true;

  private constructor(
    name: string,
    adminUrl: string,
    private readonly bin: string,
    private readonly dir: string,
    private readonly port: number,
  ) {
    super(name, adminUrl);
  }

  static async create(id: string, runDir: string, bin: string): Promise<PrivateDatabase> {
    const dir = join(runDir, 'pg');
    mkdirSync(dir, { recursive: true });
    // PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
    if (process.getuid?.() === 0) chownSync(dir, postgresUid(), postgresGid());
    const port = await freePort();
    const db = new PrivateDatabase(
      `baton_chaos_${id}`,
      `postgres://postgres@127.0.0.1:${port}/postgres`,
      bin,
      dir,
      port,
    );
    db.run('initdb', ['-D', db.dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    await db.start();
    await query(db.adminUrl, `CREATE DATABASE ${db.name}`);
    const dataSource = createDataSource({ url: db.url, poolSize: 1 });
    await dataSource.initialize();
    try {
      await runMigrations(dataSource);
    } finally {
      await dataSource.destroy();
    }
    await db.createLedger();
    return db;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  private run(tool: string, args: string[]): void {
    const command = join(this.bin, tool);
    const [file, argv] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    const result = spawnSync(file, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) {
      throw new Error(`${tool} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
    }
  }

  private async start(): Promise<void> {
    // fsync off: an immediate stop is a crash of the server, not of the machine; the OS keeps what was written.
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    this.run('pg_ctl', ['-D', this.dataDir, '-l', join(this.dir, 'postgres.log'), '-o', options, '-w', 'start']);
    this.stopped = false;
    await waitFor(() => portOpen('127.0.0.1', this.port), 'the private PostgreSQL to listen', { timeoutMs: 30_000 });
  }

  private stop(mode: 'immediate' | 'fast'): void {
    if (this.stopped) return;
    this.run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', 'stop']);
    this.stopped = true;
  }

  async restart(ms: number): Promise<void> {
    this.stop('immediate');
    await sleep(ms);
    await this.start();
  }

  async dispose(): Promise<void> {
    try {
      this.stop('immediate');
    } catch {
      // already down
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort from a process 'exit' handler. */
  stopNow(): void {
    try {
      this.stop('immediate');
    } catch {
      // nothing left to stop
    }
  }
}

function postgresUid(): number {
  return Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
}
function postgresGid(): number {
  return Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
}

export async function createDatabase(
  kind: 'shared' | 'private',
  id: string,
  runDir: string,
): Promise<ChaosDatabase & { stopNow?: () => void }> {
  if (kind === 'private') {
    const bin = postgresBinDir();
    if (!bin) throw new Error('no PostgreSQL binaries for a private cluster (set CHAOS_PG_BIN to the bin directory)');
    return PrivateDatabase.create(id, runDir, bin);
  }
  return SharedDatabase.create(id);
}

/** A nats-server of the chaos run's own (never the shared one on 4222), so it can be stopped and started. */
export class NatsServer {
  private child?: ChildProcess;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(runDir: string): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), join(runDir, 'nats'));
    mkdirSync(server.dir, { recursive: true });
    await server.start();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const binary = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
    const log = openSync(join(this.dir, 'nats-server.log'), 'a');
    const child = spawn(binary, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.dir], {
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitFor(() => portOpen('127.0.0.1', this.port, 200), `nats-server on port ${this.port}`, {
      timeoutMs: 15_000,
    });
  }

  async stop(): Promise<void> {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  killNow(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
