import { Client as PgClient } from 'pg';
import type { TestHarness } from './test-harness';
import { waitFor } from './wait';

/*
 * Test-only gates on run transitions inside the per-file database, to make two
 * transitions overlap for certain instead of hoping a race happens. A row
 * trigger on workflow_runs fires inside the transition's statement, after the
 * row was updated (so while the statement holds the row lock) and before it
 * commits. For a run of a gated queue it logs the transition, and if that kind
 * of transition is gated it waits for an advisory lock the test holds. The
 * test can then start the competing transition, see both statements waiting in
 * pg_stat_activity / pg_locks, and open the gate. Nothing in the product reads
 * these tables.
 */

/** What the trigger can hold back: a claim (lease_epoch changes) or a cancel (status becomes CANCELLED). */
export type GatedTransition = 'claim' | 'cancel';

export interface LoggedTransition {
  run_id: string;
  from_status: string;
  to_status: string;
  lease_epoch: number;
  locked_by: string | null;
  backend_pid: number;
}

/** A server statement as PostgreSQL shows it while it runs. */
export interface Backend {
  pid: number;
  query: string;
  wait_event_type: string | null;
  wait_event: string | null;
  blocked_by: number[];
}

export async function installTransitionGates(h: TestHarness): Promise<void> {
  await h.query(`
    CREATE TABLE IF NOT EXISTS test_gates (
      task_queue text NOT NULL, transition text NOT NULL, lock_key bigint NOT NULL,
      PRIMARY KEY (task_queue, transition))`);
  await h.query(`
    CREATE TABLE IF NOT EXISTS test_transitions (
      seq bigserial PRIMARY KEY, run_id uuid NOT NULL, from_status text NOT NULL, to_status text NOT NULL,
      lease_epoch int NOT NULL, locked_by uuid, backend_pid int NOT NULL,
      at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  await h.query(`
    CREATE OR REPLACE FUNCTION test_gate_transition() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      kind text := CASE
        WHEN NEW.lease_epoch <> OLD.lease_epoch THEN 'claim'
        WHEN NEW.status = 'CANCELLED' AND OLD.status <> 'CANCELLED' THEN 'cancel'
      END;
      gate bigint;
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM test_gates g WHERE g.task_queue = NEW.task_queue) THEN
        RETURN NULL;
      END IF;
      INSERT INTO test_transitions (run_id, from_status, to_status, lease_epoch, locked_by, backend_pid)
      VALUES (NEW.id, OLD.status, NEW.status, NEW.lease_epoch, NEW.locked_by, pg_backend_pid());
      SELECT g.lock_key INTO gate FROM test_gates g WHERE g.task_queue = NEW.task_queue AND g.transition = kind;
      IF gate IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(gate);
      END IF;
      RETURN NULL;
    END $$`);
  await h.query(`DROP TRIGGER IF EXISTS test_gate ON workflow_runs`);
  await h.query(`CREATE TRIGGER test_gate AFTER UPDATE ON workflow_runs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.lease_epoch <> NEW.lease_epoch)
    EXECUTE FUNCTION test_gate_transition()`);
}

/** Opens every gate still closed (a test that failed half-way), then removes the trigger. */
export async function uninstallTransitionGates(h: TestHarness): Promise<void> {
  await Promise.all([...closedGates].map((gate) => gate.open()));
  await h.query(`DROP TRIGGER IF EXISTS test_gate ON workflow_runs`);
  await h.query(`DELETE FROM test_gates`);
}

/** Transitions of these runs that committed, in order. */
export async function transitionsOf(h: TestHarness, runIds: string[]): Promise<LoggedTransition[]> {
  return h.query<LoggedTransition>(
    `SELECT run_id, from_status, to_status, lease_epoch, locked_by, backend_pid FROM test_transitions
     WHERE run_id = ANY ($1::uuid[]) ORDER BY seq`,
    [runIds],
  );
}

/** Statements on the test database that are waiting for a lock, with the sessions they wait for. */
export async function waitingBackends(h: TestHarness): Promise<Backend[]> {
  return h.query<Backend>(
    `SELECT pid, query, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by FROM pg_stat_activity
     WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
  );
}

let nextKey = 0x7465_7374_0000; // "test"
const closedGates = new Set<TransitionGate>();

/**
 * One closed gate: from now on, `transition` of any run of `queue` stops
 * inside its statement until open(). The lock is held by a session of its own.
 */
export class TransitionGate {
  private constructor(
    private readonly h: TestHarness,
    private readonly session: PgClient,
    readonly queue: string,
    readonly transition: GatedTransition,
    readonly key: number,
  ) {}

  static async close(h: TestHarness, queue: string, transition: GatedTransition): Promise<TransitionGate> {
    const key = nextKey++;
    const session = new PgClient({ connectionString: h.config.databaseUrl });
    session.on('error', () => undefined);
    await session.connect();
    await session.query('SELECT pg_advisory_lock($1)', [key]);
    await h.query(`INSERT INTO test_gates (task_queue, transition, lock_key) VALUES ($1, $2, $3)`, [
      queue,
      transition,
      key,
    ]);
    const gate = new TransitionGate(h, session, queue, transition, key);
    closedGates.add(gate);
    return gate;
  }

  /** The statements held at this gate now. */
  async held(): Promise<Backend[]> {
    return this.h.query<Backend>(
      `SELECT a.pid, a.query, a.wait_event_type, a.wait_event, pg_blocking_pids(a.pid) AS blocked_by
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = current_database()
         AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
      [this.key],
    );
  }

  /** Waits until exactly one statement is held here, and returns it. */
  async waitForHeld(timeoutMs = 15_000): Promise<Backend> {
    const [held] = await waitFor(
      async () => {
        const now = await this.held();
        return now.length === 1 ? now : null;
      },
      `a ${this.transition} to reach the gate on ${this.queue}`,
      { timeoutMs, intervalMs: 10 },
    );
    return held!;
  }

  /** Lets the held statement (and later ones) through; transitions of the queue are still logged. */
  async open(): Promise<void> {
    if (!closedGates.delete(this)) return;
    await this.session.query('SELECT pg_advisory_unlock($1)', [this.key]).catch(() => undefined);
    await this.session.end().catch(() => undefined);
  }
}
