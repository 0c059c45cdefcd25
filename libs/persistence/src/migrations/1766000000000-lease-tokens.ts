import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Unforgeable leases (DESIGN §5 invariants 1 and 13): every claim draws a
 * random `lease_token` (gen_random_uuid(), 122 random bits) that only the
 * worker receiving the task learns, and every worker mutation must carry it.
 * The worker id and lease epoch are shown in run views, so they alone prove
 * nothing. NULL whenever the run is not RUNNING.
 */
export class LeaseTokens1766000000000 implements MigrationInterface {
  name = 'LeaseTokens1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs ADD COLUMN lease_token uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs DROP COLUMN IF EXISTS lease_token`);
  }
}
