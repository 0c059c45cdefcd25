import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently } from './long-statements';

const INDEX = 'run_signals_request_id';

/**
 * A send's request id (chosen by the client, kept across its retries): a
 * Signal whose reply was lost and that is sent again finds its first copy
 * and stores nothing, so a fault never delivers a signal twice. Unique per
 * run; sends without one (older clients) stay outside the partial index.
 * A nullable column is added without rewriting the table; the index is
 * built CONCURRENTLY (see long-statements.ts).
 */
export class SignalRequestIds1767600000001 implements MigrationInterface {
  name = 'SignalRequestIds1767600000001';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE run_signals ADD COLUMN IF NOT EXISTS request_id text`);
    await buildIndexConcurrently(q, INDEX, `ON run_signals (run_id, request_id) WHERE request_id IS NOT NULL`, {
      unique: true,
    });
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${INDEX}`);
    await q.query(`ALTER TABLE run_signals DROP COLUMN IF EXISTS request_id`);
  }
}
