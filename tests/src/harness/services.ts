import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';

/** The real services the suite runs against (DEVELOPERS.md): overridable for other machines. */
export const POSTGRES_ADMIN_URL = process.env.BATON_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The migrated database each test file clones, named after the migrations it
 * holds (source and build): Jest runs going on at once on one machine share it
 * rather than drop it under each other, and a schema change gets a new one.
 */
export const TEMPLATE_DATABASE = `baton_test_tpl_${migrationsHash()}`;

function migrationsHash(): string {
  const hash = createHash('sha256');
  const persistence = join(__dirname, '..', '..', '..', 'libs', 'persistence');
  for (const dir of [join(persistence, 'src', 'migrations'), join(persistence, 'dist', 'migrations')]) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).sort()) hash.update(file).update(readFileSync(join(dir, file)));
  }
  return hash.digest('hex').slice(0, 16);
}

export function databaseUrl(database: string): string {
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

export function portOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** NATS at BATON_TEST_NATS_URL or 127.0.0.1:4222; without one, a nats-server from PATH for this process. */
export async function ensureNats(): Promise<string> {
  const configured = process.env.BATON_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
  const url = new URL(configured);
  if (await portOpen(url.hostname, Number(url.port || 4222))) return configured;
  const port = 14_222 + (process.pid % 1000);
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js'], { stdio: 'ignore' });
  process.once('exit', () => child.kill());
  for (let i = 0; i < 50; i++) {
    if (await portOpen('127.0.0.1', port)) return `nats://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no NATS at ${configured} and nats-server could not be started`);
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new PgClient({ connectionString: POSTGRES_ADMIN_URL });
  // A connection lost mid-query rejects the query; the 'error' event must not also crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
