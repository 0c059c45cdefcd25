import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently } from './long-statements';

const CHILD_INDEX = 'workflow_runs_child_of';

/**
 * Child workflows (ctx.child):
 *  - workflow_runs.parent_run_id / parent_step_id: the run and CHILD step that
 *    started this run; cancel_with_parent: whether cancelling the parent
 *    cancels it (null for runs that are nobody's child). No foreign key: a
 *    parent may be purged by retention while a child it let go runs on.
 *  - step_runs.child_run_id: the run a CHILD step started.
 *  - workflow_runs_child_of: unique (parent_run_id, parent_step_id), so a
 *    replayed start can never insert a second child for one step; its leading
 *    column also lists a run's children (the cancel cascade, `parentRunId`
 *    filters). Built CONCURRENTLY, as 1767000000000-retention-index.ts
 *    explains, so no transaction around this migration.
 *  - baton_wake_parent: when a child leaves the live statuses (whichever
 *    statement does it: complete, fail, cancel, deadline, recovery limit,
 *    terminate...), its parent, if parked until woken (UNTIL_WOKEN), becomes
 *    PENDING and claimable in the same transaction (a parent parked for a
 *    timer is left to it). Row-level with a WHEN clause, so for
 *    every other update it costs the WHEN test alone, no function call. It
 *    first takes KEY SHARE on the parent row: that conflicts with the FOR
 *    UPDATE a parent's StartChild holds while it decides to park (see
 *    start-child.ts), so a parent can never park on a child that finished
 *    unseen, and with nothing else done to a running parent (a heartbeat's
 *    update, a step's FOR SHARE), so it never waits on those.
 * Columns are nullable without defaults: adding them rewrites nothing.
 */
export class ChildWorkflows1767400000000 implements MigrationInterface {
  name = 'ChildWorkflows1767400000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflow_runs
        ADD COLUMN IF NOT EXISTS parent_run_id uuid,
        ADD COLUMN IF NOT EXISTS parent_step_id text,
        ADD COLUMN IF NOT EXISTS cancel_with_parent boolean`);
    await q.query(`ALTER TABLE step_runs ADD COLUMN IF NOT EXISTS child_run_id uuid`);
    await q.query(`
      CREATE OR REPLACE FUNCTION baton_wake_parent() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM 1 FROM workflow_runs WHERE id = NEW.parent_run_id FOR KEY SHARE;
        UPDATE workflow_runs SET status = 'PENDING', available_at = now(), wake_up_at = now(), updated_at = now()
        WHERE id = NEW.parent_run_id AND status = 'SLEEPING' AND available_at = 'infinity'::timestamptz;
        RETURN NULL;
      END $$`);
    await q.query(`DROP TRIGGER IF EXISTS workflow_runs_wake_parent ON workflow_runs`);
    await q.query(`
      CREATE TRIGGER workflow_runs_wake_parent AFTER UPDATE OF status ON workflow_runs
        FOR EACH ROW
        WHEN (NEW.parent_run_id IS NOT NULL
              AND OLD.status IN ('PENDING','RUNNING','SLEEPING')
              AND NEW.status NOT IN ('PENDING','RUNNING','SLEEPING'))
        EXECUTE FUNCTION baton_wake_parent()`);

    await buildIndexConcurrently(
      q,
      CHILD_INDEX,
      `ON workflow_runs (parent_run_id, parent_step_id) WHERE parent_run_id IS NOT NULL`,
      { unique: true },
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS workflow_runs_wake_parent ON workflow_runs`);
    await q.query(`DROP FUNCTION IF EXISTS baton_wake_parent()`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${CHILD_INDEX}`);
    await q.query(`ALTER TABLE step_runs DROP COLUMN IF EXISTS child_run_id`);
    await q.query(`
      ALTER TABLE workflow_runs
        DROP COLUMN IF EXISTS parent_run_id,
        DROP COLUMN IF EXISTS parent_step_id,
        DROP COLUMN IF EXISTS cancel_with_parent`);
  }
}
