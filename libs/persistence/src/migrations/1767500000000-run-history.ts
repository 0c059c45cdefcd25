import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail of what people did to a run (cancel, terminate, retry,
 * reset): one row per action, written in the same statement or transaction
 * as the action itself, so a change without its entry cannot exist. Rows go
 * with their run (retention, Delete) through the cascade; the index serves
 * both the run's history page and the cascade's lookup.
 *
 * A new table: creating its foreign key takes a brief lock on workflow_runs
 * and reads none of its rows.
 */
export class RunHistory1767500000000 implements MigrationInterface {
  name = 'RunHistory1767500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE run_history (
        id bigserial PRIMARY KEY,
        run_id uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
        at timestamptz NOT NULL DEFAULT now(),
        action text NOT NULL CHECK (action IN ('CANCELLED','TERMINATED','RETRIED','RESET')),
        actor text,
        reason text,
        detail jsonb NOT NULL DEFAULT '{}'
      )`);
    await q.query(`CREATE INDEX run_history_by_run ON run_history (run_id, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS run_history`);
  }
}
