import type { Payload, StepView } from '@baton/contracts';
import type { Sql } from '../sql';
import { payloadOf, STEP_COLUMNS, toStepView } from '../rows';
import { claimBatch, releaseClaim } from '../transitions';
import type { ClaimBatchResult, ClaimRef, ClaimWaiter } from '../transitions';

/** The claim path's reads and writes; the transitions themselves live in ../transitions. */
export class ClaimRepository {
  /**
   * Queues whose last claim met flow control (a concurrency key, a rate
   * limit): their next claim runs the flow statement at once rather than the
   * plain one first. Forgotten when a flow claim finds none in play.
   */
  private readonly flowQueues = new Set<string>();

  constructor(private readonly sql: Sql) {}

  /** One claim statement for waiters that all ask for `workflowTypes` (oldest first), with the short first lease. */
  async claimBatch(
    namespace: string,
    queue: string,
    waiters: ClaimWaiter[],
    workflowTypes: string[],
    ackTimeoutMs: number,
  ): Promise<ClaimBatchResult> {
    const key = `${namespace}\u0000${queue}`;
    const flow = this.flowQueues.has(key);
    const result = await claimBatch(this.sql, namespace, queue, waiters, workflowTypes, ackTimeoutMs, flow);
    if (result.flow) this.flowQueues.add(key);
    else this.flowQueues.delete(key);
    return result;
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

  /** Returns the queue to ring if the claim was still ours, undelivered, and is now claimable again. */
  async release(claim: ClaimRef): Promise<{ namespace: string; queue: string } | null> {
    return releaseClaim(this.sql, claim);
  }
}
