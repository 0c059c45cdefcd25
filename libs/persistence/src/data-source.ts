import { buildConfig } from '@baton/contracts';
import { DataSource } from 'typeorm';
import { MIGRATIONS } from './migrations';

export interface DataSourceOptions {
  url: string;
  poolSize?: number;
  applicationName?: string;
  /** Defaults: the configuration's (BATON_DB_CONNECT_TIMEOUT, BATON_DB_QUERY_TIMEOUT). */
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
}

/** Where TypeORM records the migrations applied (read by readiness, see SchemaRepository). */
export const MIGRATIONS_TABLE = 'baton_migrations';

/**
 * Idle time before TCP keepalive probes start on a pooled connection: a server
 * that vanished without closing the socket (host down, link cut) is noticed
 * by the kernel, and the pool drops the connection before handing it out.
 */
const KEEPALIVE_IDLE_MS = 10_000;

/**
 * PostgreSQL cancels a statement this much before the client would give up on
 * it, so a server that is merely slow ends the statement cleanly (the
 * connection stays usable) and only a silent one trips the client timeout.
 */
const SERVER_TIMEOUT_SHARE = 0.9;

/**
 * Creates (does not initialize) the one DataSource an app uses. Migrations are
 * listed, never globbed. Every wait on the database is bounded: a database
 * that accepts connections and never answers costs a caller at most the
 * connect or the query timeout, then an UNAVAILABLE error (see sql.ts).
 */
export function createDataSource(options: DataSourceOptions): DataSource {
  const defaults = buildConfig();
  const connectTimeoutMs = options.connectTimeoutMs ?? defaults.dbConnectTimeoutMs;
  const queryTimeoutMs = options.queryTimeoutMs ?? defaults.dbQueryTimeoutMs;
  const serverTimeoutMs = Math.max(1, Math.floor(queryTimeoutMs * SERVER_TIMEOUT_SHARE));
  return new DataSource({
    type: 'postgres',
    url: options.url,
    // No entities: the migrations are the schema, and every statement is written by hand in transitions/ and repositories/.
    entities: [],
    migrations: MIGRATIONS,
    migrationsTableName: MIGRATIONS_TABLE,
    synchronize: false,
    // TypeORM's own console lines (a failed START TRANSACTION during an outage) would bypass the apps'
    // format, level and repeat limit; every error reaches its caller, which logs it.
    logging: false,
    applicationName: options.applicationName ?? 'baton',
    // pg-pool bounds both opening a connection and waiting for a free one with it.
    connectTimeoutMS: connectTimeoutMs,
    extra: {
      // Two at least: runMigrations holds one connection for its advisory lock.
      max: Math.max(2, options.poolSize ?? 10),
      idleTimeoutMillis: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
      // Client side: the caller stops waiting for a server that does not answer at all.
      query_timeout: queryTimeoutMs,
      // Server side, per session: every statement of Baton is short, so a long one is an
      // overload or a bug; and a session left idle inside a transaction has lost its client
      // (hung, partitioned) while holding row locks the other services wait for.
      statement_timeout: serverTimeoutMs,
      idle_in_transaction_session_timeout: queryTimeoutMs,
    },
  });
}

/** Arbitrary but fixed key: migrations run under it so concurrent starts apply them once. */
const MIGRATION_LOCK_KEY = 7_318_100_001;

/** Runs pending migrations while holding an advisory lock (several replicas may start at once). */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await runner.release();
  }
}
