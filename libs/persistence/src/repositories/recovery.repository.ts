import { decideRetry, resolveRetryPolicy } from '@baton/contracts';
import type { Querier, Sql } from '../sql';

/** A run the watchdog moved: where to ring the doorbell, or whom to tell it finished. */
export interface MovedRun {
  id: string;
  namespace: string;
  queue: string;
  status: 'PENDING' | 'FAILED';
}

// Applies one decision per run in a single statement (unnest of parallel arrays).
const APPLY_RECOVERY = `
  UPDATE workflow_runs r
  SET status = d.status, attempt = CASE WHEN d.status = 'PENDING' THEN r.attempt + 1 ELSE r.attempt END,
      available_at = now() + d.delay_ms * interval '1 millisecond',
      finished_at = CASE WHEN d.status = 'FAILED' THEN now() ELSE NULL END,
      locked_by = NULL, locked_until = NULL, wake_up_at = NULL,
      error_message = d.message, error_type = 'LEASE_LOST', error_stack = NULL,
      error_non_retryable = (d.status = 'FAILED'), updated_at = now()
  FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[]) AS d(id, status, delay_ms, message)
  WHERE r.id = d.id AND r.status = 'RUNNING'
  RETURNING r.id, r.namespace, r.task_queue, r.status`;

/**
 * The watchdog's transitions (DESIGN §5 invariants 3 and 8). Each claims its
 * rows with FOR UPDATE SKIP LOCKED, so two watchdog replicas never move the
 * same run, and works in bounded batches.
 */
export class RecoveryRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * SLEEPING runs whose wake time has come → PENDING (claimable now). A
   * sleeper's wake_up_at equals its available_at; reading wake_up_at lets the
   * partial index workflow_runs_sleeping serve the scan.
   */
  async wakeSleepers(batchSize: number): Promise<MovedRun[]> {
    const rows = await this.sql.rows(
      `UPDATE workflow_runs r SET status = 'PENDING', updated_at = now()
       FROM (SELECT id FROM workflow_runs WHERE status = 'SLEEPING' AND wake_up_at <= now()
             ORDER BY wake_up_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
       WHERE r.id = due.id
       RETURNING r.id, r.namespace, r.task_queue, r.status`,
      [batchSize],
    );
    return rows.map(moved);
  }

  /**
   * RUNNING runs whose lease expired (orphans): back to claimable after their
   * policy's backoff with attempt + 1, or FAILED once attempts are exhausted.
   */
  async recoverExpiredLeases(batchSize: number): Promise<MovedRun[]> {
    return this.sql.transaction(async (q) => {
      const lost = await q.rows(
        `SELECT id, attempt, retry_policy FROM workflow_runs
         WHERE status = 'RUNNING' AND locked_until < now()
         ORDER BY locked_until LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      return this.applyRecovery(q, lost, true);
    });
  }

  /**
   * Workers silent past the stale threshold → OFFLINE, and their runs are
   * made claimable at once (not at lease expiry), attempt + 1.
   */
  async expireStaleWorkers(staleMs: number, batchSize: number): Promise<{ workers: string[]; runs: MovedRun[] }> {
    return this.sql.transaction(async (q) => {
      const workers = await q.rows<{ id: string }>(
        `UPDATE workers w SET status = 'OFFLINE', active_count = 0, updated_at = now()
         FROM (SELECT id FROM workers WHERE status <> 'OFFLINE'
                 AND last_heartbeat_at < now() - $1::bigint * interval '1 millisecond'
               ORDER BY last_heartbeat_at LIMIT $2 FOR UPDATE SKIP LOCKED) stale
         WHERE w.id = stale.id
         RETURNING w.id`,
        [staleMs, batchSize],
      );
      if (workers.length === 0) return { workers: [], runs: [] };
      const lost = await q.rows(
        `SELECT id, attempt, retry_policy FROM workflow_runs
         WHERE status = 'RUNNING' AND locked_by = ANY($1::uuid[]) FOR UPDATE`,
        [workers.map((w) => w.id)],
      );
      return { workers: workers.map((w) => w.id), runs: await this.applyRecovery(q, lost, false) };
    });
  }

  /** Live runs past their deadline → FAILED (DEADLINE_EXCEEDED), whatever state they are in. */
  async failPastDeadline(batchSize: number): Promise<MovedRun[]> {
    const rows = await this.sql.rows(
      `UPDATE workflow_runs r
       SET status = 'FAILED', finished_at = now(), updated_at = now(), locked_by = NULL, locked_until = NULL,
           wake_up_at = NULL, error_message = 'workflow run exceeded its deadline (' || r.deadline_at || ')',
           error_type = 'DEADLINE_EXCEEDED', error_stack = NULL, error_non_retryable = true
       FROM (SELECT id FROM workflow_runs
             WHERE deadline_at < now() AND status IN ('PENDING','RUNNING','SLEEPING')
             ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
       WHERE r.id = due.id
       RETURNING r.id, r.namespace, r.task_queue, r.status`,
      [batchSize],
    );
    return rows.map(moved);
  }

  private async applyRecovery(q: Querier, lost: Array<Record<string, any>>, withBackoff: boolean): Promise<MovedRun[]> {
    if (lost.length === 0) return [];
    const ids: string[] = [];
    const statuses: string[] = [];
    const delays: number[] = [];
    const messages: string[] = [];
    for (const run of lost) {
      const decision = decideRetry(resolveRetryPolicy(run.retry_policy), run.attempt, {});
      ids.push(run.id);
      statuses.push(decision.retry ? 'PENDING' : 'FAILED');
      delays.push(decision.retry && withBackoff ? decision.delayMs : 0);
      messages.push(
        decision.retry
          ? `lease lost on attempt ${run.attempt}; retrying`
          : `lease lost ${run.attempt} times: attempts exhausted (max ${resolveRetryPolicy(run.retry_policy).maxAttempts})`,
      );
    }
    const rows = await q.rows(APPLY_RECOVERY, [ids, statuses, delays, messages]);
    return rows.map(moved);
  }
}

function moved(row: Record<string, any>): MovedRun {
  return { id: row.id, namespace: row.namespace, queue: row.task_queue, status: row.status };
}
