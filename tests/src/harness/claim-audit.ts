import type { TestHarness } from './test-harness';

/*
 * Test-only instrumentation of claims inside the per-file database. Every
 * statement that claims runs (a claim is the only transition that increments
 * lease_epoch) logs, per run claimed: the worker, the epoch, and how many runs
 * of all types and of the run's type that worker holds RUNNING right after the
 * claim, counted in the claiming transaction with a fresh snapshot (PL/pgSQL
 * takes one per statement), so a claim that pushes a worker past a limit is
 * caught even if the excess lasts a millisecond. Nothing in the product reads
 * this table.
 */
/** What the triggers log for each claimed row `n` (a claim's update, or an insert already claimed). */
const LOG_CLAIMS = `
      INSERT INTO test_claims (run_id, worker_id, lease_epoch, workflow_type, held, held_of_type)
      SELECT n.id, n.locked_by, n.lease_epoch, n.workflow_type,
             (SELECT count(*) FROM workflow_runs r WHERE r.locked_by = n.locked_by AND r.status = 'RUNNING'),
             (SELECT count(*) FROM workflow_runs r
              WHERE r.locked_by = n.locked_by AND r.status = 'RUNNING' AND r.workflow_type = n.workflow_type)`;

export async function installClaimAudit(h: TestHarness): Promise<void> {
  await h.query(`
    CREATE TABLE IF NOT EXISTS test_claims (
      seq bigserial PRIMARY KEY, run_id uuid NOT NULL, worker_id uuid, lease_epoch int NOT NULL,
      workflow_type text NOT NULL, held int NOT NULL, held_of_type int NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await h.query(`
    CREATE OR REPLACE FUNCTION test_log_claims() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${LOG_CLAIMS} FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE n.lease_epoch <> o.lease_epoch;
      RETURN NULL;
    END $$`);
  await h.query(`DROP TRIGGER IF EXISTS test_claims ON workflow_runs`);
  await h.query(`CREATE TRIGGER test_claims AFTER UPDATE ON workflow_runs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION test_log_claims()`);
  // Eager dispatch inserts a run already claimed (lease_epoch 1): a claim too.
  await h.query(`
    CREATE OR REPLACE FUNCTION test_log_inserted_claims() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      ${LOG_CLAIMS} FROM new_rows n
      WHERE n.lease_epoch > 0;
      RETURN NULL;
    END $$`);
  await h.query(`DROP TRIGGER IF EXISTS test_claims_inserted ON workflow_runs`);
  await h.query(`CREATE TRIGGER test_claims_inserted AFTER INSERT ON workflow_runs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION test_log_inserted_claims()`);
}

export interface ClaimRecord {
  run_id: string;
  worker_id: string;
  lease_epoch: number;
  workflow_type: string;
  held: number;
  held_of_type: number;
}

export async function claimsOf(
  h: TestHarness,
  filter: { workerIds?: string[]; runIds?: string[] },
): Promise<ClaimRecord[]> {
  return h.query<ClaimRecord>(
    `SELECT run_id, worker_id, lease_epoch, workflow_type, held, held_of_type FROM test_claims
     WHERE ($1::uuid[] IS NULL OR worker_id = ANY ($1::uuid[])) AND ($2::uuid[] IS NULL OR run_id = ANY ($2::uuid[]))
     ORDER BY seq`,
    [filter.workerIds ?? null, filter.runIds ?? null],
  );
}

/** The most runs (all types, and per type) the worker ever held right after a claim. */
export async function peakHeld(
  h: TestHarness,
  workerId: string,
): Promise<{ held: number; byType: Record<string, number> }> {
  const rows = await h.query<{ workflow_type: string; held: number; held_of_type: number }>(
    `SELECT workflow_type, max(held)::int AS held, max(held_of_type)::int AS held_of_type FROM test_claims
     WHERE worker_id = $1 GROUP BY workflow_type`,
    [workerId],
  );
  return {
    held: Math.max(0, ...rows.map((r) => r.held)),
    byType: Object.fromEntries(rows.map((r) => [r.workflow_type, r.held_of_type])),
  };
}

/** Counts of RUNNING runs the worker holds now, in total and per type. */
export async function heldNow(
  h: TestHarness,
  workerId: string,
): Promise<{ held: number; byType: Record<string, number> }> {
  const rows = await h.query<{ workflow_type: string; n: number }>(
    `SELECT workflow_type, count(*)::int AS n FROM workflow_runs WHERE locked_by = $1 AND status = 'RUNNING'
     GROUP BY workflow_type`,
    [workerId],
  );
  return {
    held: rows.reduce((sum, r) => sum + r.n, 0),
    byType: Object.fromEntries(rows.map((r) => [r.workflow_type, r.n])),
  };
}
