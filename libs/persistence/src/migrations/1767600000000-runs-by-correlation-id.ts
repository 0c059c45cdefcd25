import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently } from './long-statements';

const INDEX = 'workflow_runs_by_correlation_id';

/**
 * Runs searched by correlation id (the dashboard's search, `baton workflow
 * list --correlation-id`), newest first like every listing. Partial: runs
 * started without a correlation id never enter it, so the start path of
 * those pays nothing. Built CONCURRENTLY so a large table keeps taking
 * writes while it is read (see long-statements.ts).
 */
export class RunsByCorrelationId1767600000000 implements MigrationInterface {
  name = 'RunsByCorrelationId1767600000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await buildIndexConcurrently(
      q,
      INDEX,
      `ON workflow_runs (namespace, correlation_id, created_at DESC, id DESC) WHERE correlation_id IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
  }
}
