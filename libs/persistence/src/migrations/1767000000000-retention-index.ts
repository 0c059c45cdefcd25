import type { MigrationInterface, QueryRunner } from 'typeorm';

const INDEX = 'workflow_runs_retention';

/** The longest wait Node's timers take (about 24.8 days): in effect, no client-side limit. */
const NO_CLIENT_TIMEOUT_MS = 2 ** 31 - 1;

/** What QueryRunner.connect() resolves to for PostgreSQL: a pg client, whose query takes a per-call timeout. */
interface PgClient {
  query(config: { text: string; query_timeout: number }): Promise<unknown>;
}

/**
 * Retention (BATON_RETENTION): the watchdog purges terminal runs by
 * finished_at, oldest first. This partial index holds only terminal runs, so
 * finding the next batch past the cutoff is an index range scan however many
 * live runs there are, and live transitions do not maintain it (a run enters
 * it once, when it finishes).
 *
 * Built CONCURRENTLY, outside a transaction: this migration meets exactly the
 * databases that grew for lack of retention, and a plain CREATE INDEX would
 * block every transition on workflow_runs while it reads the whole table.
 * The build is exempt from the session's statement and query timeouts (every
 * other Baton statement is short; this one reads the table once), so on a
 * large database run `pnpm migrate` (the migration Job) before rolling out
 * the apps rather than have a starting frontend wait for it. A build that
 * failed half-way leaves an invalid index; it is dropped and built again.
 */
export class RetentionIndex1767000000000 implements MigrationInterface {
  name = 'RetentionIndex1767000000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    const [left] = await q.query(`SELECT NOT indisvalid AS invalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [
      INDEX,
    ]);
    if (left?.invalid) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
    const client = (await q.connect()) as PgClient;
    await q.query(`SET statement_timeout = 0`);
    try {
      await client.query({
        text: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${INDEX} ON workflow_runs (finished_at)
               WHERE status IN ('COMPLETED','FAILED','CANCELLED')`,
        query_timeout: NO_CLIENT_TIMEOUT_MS,
      });
    } finally {
      // Back to the value the connection was opened with.
      await q.query(`RESET statement_timeout`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
  }
}
