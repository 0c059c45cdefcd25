import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently } from './long-statements';

const INDEX = 'workflow_runs_retention';

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
    await buildIndexConcurrently(
      q,
      INDEX,
      `ON workflow_runs (finished_at) WHERE status IN ('COMPLETED','FAILED','CANCELLED')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
  }
}
