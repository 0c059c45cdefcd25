import type { MigrationInterface, QueryRunner } from 'typeorm';

const INDEX = 'workflow_runs_retention_terminated';
const STATUS_CHECK = 'workflow_runs_status_check';

/** The longest wait Node's timers take (about 24.8 days): in effect, no client-side limit. */
const NO_CLIENT_TIMEOUT_MS = 2 ** 31 - 1;

/** What QueryRunner.connect() resolves to for PostgreSQL: a pg client, whose query takes a per-call timeout. */
interface PgClient {
  query(config: { text: string; query_timeout: number }): Promise<unknown>;
}

/**
 * A run status TERMINATED (operator Terminate), on a live table:
 *  - the status CHECK is replaced NOT VALID in one statement (a brief lock,
 *    no scan: new rows are checked at once), then validated in its own
 *    transaction, which reads the table without blocking writes;
 *  - retention finds expired terminated runs through their own partial index,
 *    built CONCURRENTLY (as 1767000000000-retention-index.ts builds the one
 *    for the other terminal statuses, which stays as it is).
 * Hence no transaction around the migration.
 */
export class RunTerminated1767500000001 implements MigrationInterface {
  name = 'RunTerminated1767500000001';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflow_runs
        DROP CONSTRAINT IF EXISTS ${STATUS_CHECK},
        ADD CONSTRAINT ${STATUS_CHECK}
          CHECK (status IN ('PENDING','RUNNING','SLEEPING','COMPLETED','FAILED','CANCELLED','TERMINATED')) NOT VALID`);
    const [left] = await q.query(`SELECT NOT indisvalid AS invalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [
      INDEX,
    ]);
    if (left?.invalid) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
    const client = (await q.connect()) as PgClient;
    await q.query(`SET statement_timeout = 0`);
    try {
      await client.query({
        text: `ALTER TABLE workflow_runs VALIDATE CONSTRAINT ${STATUS_CHECK}`,
        query_timeout: NO_CLIENT_TIMEOUT_MS,
      });
      await client.query({
        text: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX} ON workflow_runs (finished_at) WHERE status = 'TERMINATED'`,
        query_timeout: NO_CLIENT_TIMEOUT_MS,
      });
    } finally {
      // Back to the value the connection was opened with.
      await q.query(`RESET statement_timeout`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
    await q.query(`
      ALTER TABLE workflow_runs
        DROP CONSTRAINT IF EXISTS ${STATUS_CHECK},
        ADD CONSTRAINT ${STATUS_CHECK}
          CHECK (status IN ('PENDING','RUNNING','SLEEPING','COMPLETED','FAILED','CANCELLED')) NOT VALID`);
  }
}
