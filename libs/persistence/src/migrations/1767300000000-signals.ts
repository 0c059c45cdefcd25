import type { MigrationInterface, QueryRunner } from 'typeorm';

const KIND_CHECK = 'step_runs_kind_check';

/**
 * Signals (ctx.waitForSignal, client.signal):
 *  - `run_signals`: every signal sent to a run, in order (id), until its run
 *    goes (cascade). A wait consumes the oldest unconsumed one of its name and
 *    records which step took it; the payload is copied into that step's output,
 *    so replays read history only. The primary key (run_id, id) serves the
 *    cascade; the partial index serves "oldest unconsumed of this name"
 *    however many were consumed before.
 *  - step_runs: kinds SIGNAL (a wait) and CHILD (a child workflow, used by
 *    ctx.child), and `signal_name`, what a SIGNAL step waits for: a send wakes
 *    a run parked on a step waiting for its name.
 *
 * Live-safe: the new column is nullable without a default (no rewrite); the
 * kind check is replaced by a wider one added NOT VALID (no scan under the
 * exclusive lock) and validated in its own transaction, which only takes a
 * lock that lets writes go on. The new table's foreign key reads no rows.
 */
export class Signals1767300000000 implements MigrationInterface {
  name = 'Signals1767300000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE IF NOT EXISTS run_signals (
        run_id uuid NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
        id bigserial NOT NULL,
        name text NOT NULL,
        payload bytea,
        encoding text,
        created_at timestamptz NOT NULL DEFAULT now(),
        consumed_by_step text,
        consumed_at timestamptz,
        PRIMARY KEY (run_id, id)
      )`);
    await q.query(`CREATE INDEX IF NOT EXISTS run_signals_unconsumed ON run_signals (run_id, name, id)
      WHERE consumed_by_step IS NULL`);
    await q.query(`ALTER TABLE step_runs ADD COLUMN IF NOT EXISTS signal_name text`);
    // One statement: the drop and the add commit together, so no moment lacks the check.
    await q.query(`
      ALTER TABLE step_runs
        DROP CONSTRAINT IF EXISTS ${KIND_CHECK},
        ADD CONSTRAINT ${KIND_CHECK} CHECK (kind IN ('FUNCTION','SLEEP','SIGNAL','CHILD')) NOT VALID`);
    await q.query(`ALTER TABLE step_runs VALIDATE CONSTRAINT ${KIND_CHECK}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS run_signals`);
    await q.query(`DELETE FROM step_runs WHERE kind IN ('SIGNAL','CHILD')`);
    await q.query(`
      ALTER TABLE step_runs
        DROP CONSTRAINT IF EXISTS ${KIND_CHECK},
        ADD CONSTRAINT ${KIND_CHECK} CHECK (kind IN ('FUNCTION','SLEEP'))`);
    await q.query(`ALTER TABLE step_runs DROP COLUMN IF EXISTS signal_name`);
  }
}
