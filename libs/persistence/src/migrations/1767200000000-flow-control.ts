import type { MigrationInterface, QueryRunner } from 'typeorm';
import { buildIndexConcurrently } from './long-statements';

/**
 * Indexes built CONCURRENTLY (see 1767000000000-retention-index.ts for why
 * and how): claimable runs with a priority other than 0, in claim order, and
 * claimable runs with a concurrency key. Default runs (priority 0, no key)
 * enter neither, so they cost no extra index write; workflow_runs_claimable
 * stays: it serves priority 0 in claim order and every due-time scan.
 */
const INDEXES: Array<[string, string]> = [
  [
    'workflow_runs_claim_priority',
    `ON workflow_runs (namespace, task_queue, priority DESC, available_at, id)
     WHERE status IN ('PENDING','SLEEPING') AND priority <> 0`,
  ],
  [
    'workflow_runs_claim_keyed',
    `ON workflow_runs (namespace, task_queue, available_at)
     WHERE status IN ('PENDING','SLEEPING') AND concurrency_key IS NOT NULL`,
  ],
];

/** Row-level triggers (name, event, WHEN, function): a run without a key costs the WHEN test alone. */
const TRIGGERS: Array<[string, string, string, string]> = [
  [
    'workflow_runs_key_inserted',
    'INSERT',
    `NEW.concurrency_key IS NOT NULL AND NEW.status = 'RUNNING'`,
    'baton_key_entered',
  ],
  [
    'workflow_runs_key_entered',
    'UPDATE OF status',
    `NEW.concurrency_key IS NOT NULL AND NEW.status = 'RUNNING' AND OLD.status <> 'RUNNING'`,
    'baton_key_entered',
  ],
  [
    'workflow_runs_key_left',
    'UPDATE OF status',
    `OLD.concurrency_key IS NOT NULL AND OLD.status = 'RUNNING' AND NEW.status <> 'RUNNING'`,
    'baton_key_left',
  ],
  [
    'workflow_runs_key_deleted',
    'DELETE',
    `OLD.concurrency_key IS NOT NULL AND OLD.status = 'RUNNING'`,
    'baton_key_left',
  ],
];

/**
 * Flow control, enforced by the claim statement (see transitions/flow-control.ts):
 *  - workflow_runs.priority (higher first; 0 by default) and the run's
 *    concurrency key and limit (at most `limit` RUNNING runs per namespace and
 *    key). A constant default and nullable columns: adding them rewrites nothing.
 *  - concurrency_slots: per (namespace, key) the RUNNING runs holding the key,
 *    row created by the first claim of the key. A claim locks the rows of the
 *    keys it is about to take (FOR UPDATE returns the newest version after
 *    any wait, so two claims never both see room that only one has).
 *  - Every way into RUNNING counts itself on that row (trigger, under its
 *    lock); every way out (complete, fail, sleep, park, release, recover,
 *    cancel, deadline, hand back, terminate, reset...) appends a -1 to
 *    concurrency_slot_deltas instead: an insert that waits on nobody, so a
 *    statement that frees runs of several keys (a group commit, a stale
 *    worker's runs) can never deadlock with a claim or another such
 *    statement. A claim folds the deltas of the keys it locked into their
 *    rows (DELETE ... RETURNING: only what it removed itself counts), so a
 *    key's count is `running` plus its unfolded deltas, exact at every commit.
 *    Row-level triggers with WHEN clauses: a run without a key costs the
 *    WHEN test alone, no function call.
 *  - rate_limits: per (namespace, queue | workflow type) at most max_claims
 *    claims in any window of period_ms; `recent` holds the times of the last
 *    claims within the window, rewritten under the row's lock by each claim.
 */
export class FlowControl1767200000000 implements MigrationInterface {
  name = 'FlowControl1767200000000';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE workflow_runs
        ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 0,
        ADD COLUMN IF NOT EXISTS concurrency_key text,
        ADD COLUMN IF NOT EXISTS concurrency_limit integer`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS concurrency_slots (
        namespace text NOT NULL,
        key text NOT NULL,
        running integer NOT NULL DEFAULT 0,
        PRIMARY KEY (namespace, key)
      )`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS concurrency_slot_deltas (
        id bigserial PRIMARY KEY,
        namespace text NOT NULL,
        key text NOT NULL,
        delta integer NOT NULL
      )`);
    await q.query(`CREATE INDEX IF NOT EXISTS concurrency_slot_deltas_key ON concurrency_slot_deltas (namespace, key)`);
    await q.query(`
      CREATE TABLE IF NOT EXISTS rate_limits (
        namespace text NOT NULL,
        scope text NOT NULL CHECK (scope IN ('queue','workflow_type')),
        name text NOT NULL,
        max_claims integer NOT NULL CHECK (max_claims > 0),
        period_ms bigint NOT NULL CHECK (period_ms > 0),
        recent timestamptz[] NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, scope, name)
      )`);
    await this.triggers(q);
    await this.indexes(q);
  }

  private async triggers(q: QueryRunner): Promise<void> {
    // An upsert: the claim has made the key's row (it locks it first), any other way into RUNNING gets one.
    await q.query(`
      CREATE OR REPLACE FUNCTION baton_key_entered() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO concurrency_slots AS s (namespace, key, running) VALUES (NEW.namespace, NEW.concurrency_key, 1)
        ON CONFLICT (namespace, key) DO UPDATE SET running = s.running + 1;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION baton_key_left() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO concurrency_slot_deltas (namespace, key, delta) VALUES (OLD.namespace, OLD.concurrency_key, -1);
        RETURN NULL;
      END $$`);
    for (const [name, event, when, fn] of TRIGGERS) {
      await q.query(`DROP TRIGGER IF EXISTS ${name} ON workflow_runs`);
      await q.query(`CREATE TRIGGER ${name} AFTER ${event} ON workflow_runs
        FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${fn}()`);
    }
  }

  private async indexes(q: QueryRunner): Promise<void> {
    for (const [name, definition] of INDEXES) await buildIndexConcurrently(q, name, definition);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const [name] of INDEXES) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    for (const [name] of TRIGGERS) await q.query(`DROP TRIGGER IF EXISTS ${name} ON workflow_runs`);
    for (const fn of ['baton_key_entered', 'baton_key_left']) {
      await q.query(`DROP FUNCTION IF EXISTS ${fn}()`);
    }
    await q.query(`DROP TABLE IF EXISTS rate_limits`);
    await q.query(`DROP TABLE IF EXISTS concurrency_slot_deltas`);
    await q.query(`DROP TABLE IF EXISTS concurrency_slots`);
    await q.query(`
      ALTER TABLE workflow_runs
        DROP COLUMN IF EXISTS priority,
        DROP COLUMN IF EXISTS concurrency_key,
        DROP COLUMN IF EXISTS concurrency_limit`);
  }
}
