import { createDataSource, runMigrations } from '@baton/persistence';
import { TEMPLATE_DATABASE, adminQuery, databaseUrl } from './services';

/**
 * Once per Jest run: a migrated template database. Each test file clones it
 * (CREATE DATABASE … TEMPLATE), which takes a fraction of a second.
 */
export default async function globalSetup(): Promise<void> {
  await adminQuery(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
  const dataSource = createDataSource({ url: databaseUrl(TEMPLATE_DATABASE), poolSize: 1 });
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
}
