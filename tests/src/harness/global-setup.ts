import { createDataSource, runMigrations } from '@baton/persistence';
import { Client as PgClient } from 'pg';
import { POSTGRES_ADMIN_URL, TEMPLATE_DATABASE, databaseUrl } from './services';

/** Serialises template builds across Jest runs that start at the same time. */
const TEMPLATE_LOCK = 0x6261746f6e; // "baton"

/**
 * Once per Jest run: make sure the migrated template database exists. Each
 * test file clones it (CREATE DATABASE … TEMPLATE), which takes a fraction of
 * a second. It is built under another name and renamed when complete, so a
 * run that died half-way never leaves a broken template behind.
 */
export default async function globalSetup(): Promise<void> {
  const admin = new PgClient({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query('SELECT pg_advisory_lock($1)', [TEMPLATE_LOCK]);
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [TEMPLATE_DATABASE]);
    if (found.rowCount) return;
    const building = `${TEMPLATE_DATABASE}_build`;
    await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${building}`);
    const dataSource = createDataSource({ url: databaseUrl(building), poolSize: 1 });
    await dataSource.initialize();
    try {
      await runMigrations(dataSource);
    } finally {
      await dataSource.destroy();
    }
    await admin.query(`ALTER DATABASE ${building} RENAME TO ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end(); // also releases the advisory lock
  }
}
