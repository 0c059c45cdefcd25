import { DataSource } from 'typeorm';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

export interface DataSourceOptions {
  url: string;
  poolSize?: number;
  applicationName?: string;
}

/** Creates (does not initialize) the one DataSource an app uses. Migrations are listed, never globbed. */
export function createDataSource(options: DataSourceOptions): DataSource {
  return new DataSource({
    type: 'postgres',
    url: options.url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'baton_migrations',
    synchronize: false,
    logging: ['error'],
    applicationName: options.applicationName ?? 'baton',
    extra: {
      // Two at least: runMigrations holds one connection for its advisory lock.
      max: Math.max(2, options.poolSize ?? 10),
      idleTimeoutMillis: 10_000,
      // Every statement of Baton is short; a hung one is a bug or an outage.
      statement_timeout: 30_000,
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
