import { randomBytes } from 'node:crypto';
import { Client as PgClient } from 'pg';

/** A database made for one environment on the user's server, dropped when the environment stops. */
export interface FreshDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** The connection URL of another database on the same server (credentials and parameters kept). */
export function databaseUrlFor(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

async function onServer<T>(serverUrl: string, work: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new PgClient({ connectionString: serverUrl });
  // A connection lost mid-statement rejects the statement; the 'error' event must not also crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A new, empty database on the server `serverUrl` points at (its own
 * database serves only to connect): each environment gets its own, so test
 * files running at once never see each other's runs, and a time skip moves
 * only this environment's timers. Needs the CREATEDB privilege.
 */
export async function createFreshDatabase(serverUrl: string): Promise<FreshDatabase> {
  const name = `baton_testing_${randomBytes(8).toString('hex')}`;
  await onServer(serverUrl, (client) => client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`));
  let dropping: Promise<void> | undefined;
  return {
    name,
    url: databaseUrlFor(serverUrl, name),
    // FORCE: a session the environment could not close (a pool of the user's) must not keep it alive.
    drop: () =>
      (dropping ??= onServer(serverUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      })),
  };
}
