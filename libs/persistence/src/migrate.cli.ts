import { loadConfig } from '@baton/contracts';
import { createDataSource, runMigrations } from './data-source';

/** `pnpm migrate`: applies pending migrations to DATABASE_URL and exits. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required for `pnpm migrate`');
  const dataSource = createDataSource({
    url: config.databaseUrl,
    poolSize: 1,
    applicationName: 'baton-migrate',
    connectTimeoutMs: config.dbConnectTimeoutMs,
    queryTimeoutMs: config.dbQueryTimeoutMs,
  });
  await dataSource.initialize();
  try {
    const applied = await runMigrations(dataSource);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await dataSource.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
