import type { Payload } from '@baton/contracts';
import type { Sql } from '../sql';
import { payloadOf, STEP_COLUMNS, toStepView } from '../rows';
import type { StepView } from '@baton/contracts';

/** One waiting poll: the worker that asked and the types it has room for. */
export interface ClaimWaiter {
  workerId: string;
}

export interface ClaimedRun {
  runId: string;
  workerId: string;
  workflowType: string;
  attempt: number;
  leaseEpoch: number;
  claims: number;
  deadlineAt: Date | null;
  correlationId: string | null;
  traceId: string | null;
  input: Payload | null;
}

export interface Lease {
  namespace: string;
  runId: string;
  workerId: string;
  leaseEpoch: number;
}

/*
 * Claims up to one run per waiter, in one statement:
 *  - waiters are paired with runs in order (oldest waiter gets the oldest run: FIFO);
 *  - a waiter counts only if its worker is ONLINE on this namespace/queue and
 *    has room under max_concurrent (its worker row is locked so two claims for
 *    one worker serialise; defense in depth behind the SDK's own slot count);
 *  - runs are PENDING, or SLEEPING and due (available_at is the wake time),
 *    taken with FOR UPDATE SKIP LOCKED so concurrent claimers never share one.
 */
const CLAIM_BATCH = `
  WITH waiters AS (
    SELECT w.worker_id, w.ord, row_number() OVER (PARTITION BY w.worker_id ORDER BY w.ord) AS nth
    FROM unnest($3::uuid[]) WITH ORDINALITY AS w(worker_id, ord)
  ), live AS (
    SELECT k.id, k.max_concurrent FROM workers k
    WHERE k.id = ANY($3::uuid[]) AND k.status = 'ONLINE' AND k.namespace = $1 AND k.task_queue = $2
    ORDER BY k.id
    FOR NO KEY UPDATE
  ), eligible AS (
    SELECT w.worker_id, row_number() OVER (ORDER BY w.ord) AS slot
    FROM waiters w JOIN live l ON l.id = w.worker_id
    WHERE w.nth + (SELECT count(*) FROM workflow_runs o WHERE o.locked_by = w.worker_id AND o.status = 'RUNNING')
          <= l.max_concurrent
  ), candidates AS (
    SELECT c.id, row_number() OVER (ORDER BY c.available_at, c.id) AS slot
    FROM (
      SELECT id, available_at FROM workflow_runs
      WHERE namespace = $1 AND task_queue = $2 AND status IN ('PENDING','SLEEPING') AND available_at <= now()
        AND workflow_type = ANY($4::text[])
      ORDER BY available_at, id
      LIMIT (SELECT count(*) FROM eligible)
      FOR UPDATE SKIP LOCKED
    ) c
  )
  UPDATE workflow_runs r
  SET status = 'RUNNING', locked_by = e.worker_id, lease_epoch = r.lease_epoch + 1, claims = r.claims + 1,
      locked_until = now() + $5::bigint * interval '1 millisecond', wake_up_at = NULL,
      started_at = coalesce(r.started_at, now()), updated_at = now()
  FROM candidates c
  JOIN eligible e ON e.slot = c.slot
  LEFT JOIN workflow_payloads p ON p.run_id = c.id
  WHERE r.id = c.id
  RETURNING r.id, r.locked_by, r.workflow_type, r.attempt, r.lease_epoch, r.claims, r.deadline_at,
            r.correlation_id, r.trace_id, p.input, p.input_encoding`;

/** Hands a claim back at once (invariant 4): the poll that claimed it has nobody to deliver to. */
const RELEASE = `
  UPDATE workflow_runs
  SET status = 'PENDING', locked_by = NULL, locked_until = NULL, available_at = now(), updated_at = now()
  WHERE id = $1 AND locked_by = $2 AND lease_epoch = $3 AND status = 'RUNNING'
  RETURNING namespace, task_queue`;

export class ClaimRepository {
  constructor(private readonly sql: Sql) {}

  async claimBatch(
    namespace: string,
    queue: string,
    waiters: ClaimWaiter[],
    workflowTypes: string[],
    leaseMs: number,
  ): Promise<ClaimedRun[]> {
    if (waiters.length === 0 || workflowTypes.length === 0) return [];
    const rows = await this.sql.rows(CLAIM_BATCH, [
      namespace,
      queue,
      waiters.map((w) => w.workerId),
      workflowTypes,
      leaseMs,
    ]);
    return rows.map((row: Record<string, any>) => ({
      runId: row.id,
      workerId: row.locked_by,
      workflowType: row.workflow_type,
      attempt: row.attempt,
      leaseEpoch: row.lease_epoch,
      claims: row.claims,
      deadlineAt: row.deadline_at,
      correlationId: row.correlation_id,
      traceId: row.trace_id,
      input: payloadOf(row.input, row.input_encoding),
    }));
  }

  /** Completed-step history for freshly claimed runs, so replay needs no round trip per step. */
  async histories(runIds: string[]): Promise<Map<string, StepView[]>> {
    const byRun = new Map<string, StepView[]>();
    if (runIds.length === 0) return byRun;
    const rows = await this.sql.rows(
      `SELECT ${STEP_COLUMNS} FROM step_runs s WHERE s.run_id = ANY($1::uuid[]) ORDER BY s.run_id, s.seq`,
      [runIds],
    );
    for (const row of rows) {
      const step = toStepView(row);
      const list = byRun.get(step.runId) ?? [];
      list.push(step);
      byRun.set(step.runId, list);
    }
    return byRun;
  }

  async loadInput(runId: string): Promise<Payload | null> {
    const rows = await this.sql.rows(`SELECT input, input_encoding FROM workflow_payloads WHERE run_id = $1`, [runId]);
    return rows.length ? payloadOf(rows[0].input, rows[0].input_encoding) : null;
  }

  /** Returns the queue to ring if the claim was still ours and is now claimable again. */
  async release(lease: Omit<Lease, 'namespace'>): Promise<{ namespace: string; queue: string } | null> {
    const rows = await this.sql.rows(RELEASE, [lease.runId, lease.workerId, lease.leaseEpoch]);
    const row = rows[0];
    return row ? { namespace: row.namespace, queue: row.task_queue } : null;
  }
}
