import type { TestHarness } from './test-harness';

/*
 * Test-only instrumentation inside the per-file database: triggers that log
 * what the product did, so tests can assert on every transition rather than
 * on the last state alone. Nothing in the product reads these tables.
 */

/**
 * Logs every change of a run's status or attempt (one row per run per
 * statement), so a test can prove a run was moved exactly once, with the
 * row's available_at and updated_at as the transition wrote them (one now()
 * for both within a statement: a delay the server computed can be read back
 * exactly, without clocks).
 */
export async function installTransitionAudit(h: TestHarness): Promise<void> {
  await h.query(`
    CREATE TABLE IF NOT EXISTS test_run_transitions (
      seq bigserial PRIMARY KEY, run_id uuid NOT NULL, from_status text, to_status text,
      from_attempt int, to_attempt int, from_epoch int, to_epoch int, error_type text,
      available_at timestamptz, stamped_at timestamptz,
      at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await h.query(`
    CREATE OR REPLACE FUNCTION test_log_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.status IS DISTINCT FROM OLD.status OR NEW.attempt IS DISTINCT FROM OLD.attempt THEN
        INSERT INTO test_run_transitions (run_id, from_status, to_status, from_attempt, to_attempt, from_epoch,
                                          to_epoch, error_type, available_at, stamped_at)
        VALUES (NEW.id, OLD.status, NEW.status, OLD.attempt, NEW.attempt, OLD.lease_epoch, NEW.lease_epoch,
                NEW.error_type, NEW.available_at, NEW.updated_at);
      END IF;
      RETURN NULL;
    END $$`);
  await h.query(`DROP TRIGGER IF EXISTS test_run_transitions ON workflow_runs`);
  await h.query(`CREATE TRIGGER test_run_transitions AFTER UPDATE ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION test_log_transition()`);
}

export interface Transition {
  run_id: string;
  from_status: string;
  to_status: string;
  from_attempt: number;
  to_attempt: number;
  error_type: string | null;
}

export interface TimedTransition extends Transition {
  /** The row's available_at after the transition. */
  available_at: Date;
  /** The row's updated_at after the transition: the statement's now(). */
  stamped_at: Date;
}

export async function transitions(h: TestHarness, runIds: string[]): Promise<Transition[]> {
  return h.query<Transition>(
    `SELECT run_id, from_status, to_status, from_attempt, to_attempt, error_type FROM test_run_transitions
     WHERE run_id = ANY($1::uuid[]) ORDER BY seq`,
    [runIds],
  );
}

/** The transitions of one run with the times the server wrote, in order. */
export async function timedTransitions(h: TestHarness, runId: string): Promise<TimedTransition[]> {
  return h.query<TimedTransition>(
    `SELECT run_id, from_status, to_status, from_attempt, to_attempt, error_type, available_at, stamped_at
     FROM test_run_transitions WHERE run_id = $1 ORDER BY seq`,
    [runId],
  );
}

/**
 * Logs the counter corrections the reconcile job writes. The counting
 * triggers insert deltas from inside a trigger on workflow_runs (trigger depth
 * 2 here); reconciliation inserts them directly (depth 1), so the two are told
 * apart without touching the product.
 */
export async function installCorrectionAudit(h: TestHarness): Promise<void> {
  await h.query(`
    CREATE TABLE IF NOT EXISTS test_counter_corrections (
      seq bigserial PRIMARY KEY, namespace text, task_queue text, pending int, running int, sleeping int,
      at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await h.query(`
    CREATE OR REPLACE FUNCTION test_log_correction() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF pg_trigger_depth() = 1 THEN
        INSERT INTO test_counter_corrections (namespace, task_queue, pending, running, sleeping)
        VALUES (NEW.namespace, NEW.task_queue, NEW.pending, NEW.running, NEW.sleeping);
      END IF;
      RETURN NULL;
    END $$`);
  await h.query(`DROP TRIGGER IF EXISTS test_counter_corrections ON queue_counter_deltas`);
  await h.query(`CREATE TRIGGER test_counter_corrections AFTER INSERT ON queue_counter_deltas
    FOR EACH ROW EXECUTE FUNCTION test_log_correction()`);
}

export async function corrections(
  h: TestHarness,
  queue: string,
  namespace = 'default',
): Promise<Array<{ pending: number; running: number; sleeping: number }>> {
  return h.query(
    `SELECT pending, running, sleeping FROM test_counter_corrections WHERE namespace = $1 AND task_queue = $2
     ORDER BY seq`,
    [namespace, queue],
  );
}
