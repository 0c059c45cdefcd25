import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tracing: the W3C `traceparent` a run was started in (its caller's span, or
 * the API call's), kept with the run so that every execution of it, on any
 * worker and after any replay, continues the same trace. `trace_id` stays
 * what views show: the caller's opaque id, else this context's trace id.
 * Adding a nullable column without a default rewrites nothing.
 */
export class RunTraceparent1767100000000 implements MigrationInterface {
  name = 'RunTraceparent1767100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs ADD COLUMN IF NOT EXISTS traceparent text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE workflow_runs DROP COLUMN IF EXISTS traceparent`);
  }
}
