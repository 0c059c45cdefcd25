import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently, withoutTimeouts } from './long-statements';

const INDEX = 'workflow_runs_retention_terminated';
const STATUS_CHECK = 'workflow_runs_status_check';

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
    await withoutTimeouts(q, [`ALTER TABLE workflow_runs VALIDATE CONSTRAINT ${STATUS_CHECK}`]);
    await buildIndexConcurrently(q, INDEX, `ON workflow_runs (finished_at) WHERE status = 'TERMINATED'`);
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
