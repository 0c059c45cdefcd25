import { loadConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { createDataSource, runMigrations } from './data-source';
import { EXPECTED_MIGRATION, SchemaRepository } from './repositories/schema.repository';
import { Sql } from './sql';

// --wait: how often to look again, and how often to say what it is waiting for.
const WAIT_POLL_MS = 2_000;
const WAIT_REPORT_MS = 10_000;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function dataSourceFor(config: BatonConfig) {
  return createDataSource({
    url: config.databaseUrl!,
    poolSize: 1,
    applicationName: 'baton-migrate',
    connectTimeoutMs: config.dbConnectTimeoutMs,
    queryTimeoutMs: config.dbQueryTimeoutMs,
  });
}

/** Applies pending migrations under the advisory lock. */
async function migrate(config: BatonConfig): Promise<void> {
  const dataSource = dataSourceFor(config);
  await dataSource.initialize();
  try {
    const applied = await runMigrations(dataSource);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await dataSource.destroy();
  }
}

/**
 * Applies nothing: returns once the database holds this build's last
 * migration (an init container's way to keep an app off an old schema while
 * the migration Job runs). An unreachable database is waited for too.
 */
async function waitForSchema(config: BatonConfig): Promise<void> {
  let reportedAt = 0;
  for (;;) {
    const dataSource = dataSourceFor(config);
    let why: string;
    try {
      await dataSource.initialize();
      if (await new SchemaRepository(new Sql(dataSource)).isMigrated(config.dbReadyTimeoutMs)) {
        console.log(`database is at ${EXPECTED_MIGRATION}`);
        return;
      }
      why = `the database does not hold ${EXPECTED_MIGRATION} yet`;
    } catch (err) {
      why = `the database is not reachable (${err instanceof Error ? err.message : String(err)})`;
    } finally {
      if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    }
    if (Date.now() - reportedAt >= WAIT_REPORT_MS) {
      console.log(`waiting: ${why}`);
      reportedAt = Date.now();
    }
    await pause(WAIT_POLL_MS);
  }
}

/** `pnpm migrate`: applies pending migrations to DATABASE_URL and exits; `--wait`: waits for them instead. */
async function main(): Promise<void> {
  const config = loadConfig();
  if (!config.databaseUrl) throw new Error('DATABASE_URL is required for `pnpm migrate`');
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--wait');
  if (unknown.length) throw new Error(`unknown argument ${unknown[0]} (the only option is --wait)`);
  await (args.includes('--wait') ? waitForSchema(config) : migrate(config));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
