import { BatonError, ErrorReason, RunStatus } from '@baton/contracts';
import type { Querier } from '../sql';

/**
 * Who holds a run: every worker mutation carries it (invariants 1 and 13).
 * The token decides: it is drawn at random for each claim and handed only to
 * the worker that received the task, while namespace, run id, worker id and
 * epoch are all shown in run views. The epoch is kept for what the error
 * messages tell.
 */
export interface Lease {
  namespace: string;
  runId: string;
  workerId: string;
  leaseEpoch: number;
  /** The claim's lease_token (a UUID, checked at the edge: the guard casts it). */
  leaseToken: string;
}

/** Where a lease's parts come from: parameters (one run) or a batch's columns (group commit). */
export interface LeaseSource {
  runId: string;
  namespace: string;
  workerId: string;
  leaseToken: string;
}

/**
 * The lease guard over workflow_runs' own (unqualified) columns. The token is
 * new at every claim, so it also pins the epoch; it is NULL whenever the run
 * is not RUNNING (UNLOCK), which the comparison never matches.
 */
export const leaseGuard = (l: LeaseSource) =>
  `id = ${l.runId} AND namespace = ${l.namespace} AND locked_by = ${l.workerId} AND lease_token = ${l.leaseToken} AND status = 'RUNNING'`;

/** The lease guard of every worker mutation: $1..$4 are leaseParams(lease). */
export const LEASE_GUARD = leaseGuard({ runId: '$1', namespace: '$2', workerId: '$3', leaseToken: '$4::uuid' });

/**
 * The lease guard of a group commit's rows: each batch statement names its
 * unnest()ed items `item`, with these columns (`token` from a uuid[]).
 */
export const ITEM_LEASE_GUARD = leaseGuard({
  runId: 'item.run_id',
  namespace: 'item.run_namespace',
  workerId: 'item.worker_id',
  leaseToken: 'item.token',
});

export const leaseParams = (l: Lease): unknown[] => [l.runId, l.namespace, l.workerId, l.leaseToken];

/** Whether `lease` is the run's current lease (checked before anything about the run is told). */
export async function holdsLease(q: Querier, lease: Lease): Promise<boolean> {
  return (await q.rows(`SELECT 1 FROM workflow_runs WHERE ${LEASE_GUARD}`, leaseParams(lease))).length === 1;
}

/** Why a guarded mutation matched no row: the run is gone, finished, or owned by another lease. */
export async function leaseMiss(q: Querier, lease: Lease): Promise<BatonError> {
  const [run] = await q.rows(`SELECT status FROM workflow_runs WHERE id = $1 AND namespace = $2`, [
    lease.runId,
    lease.namespace,
  ]);
  if (!run) return BatonError.notFound(`workflow run ${lease.runId}`);
  if (run.status === RunStatus.CANCELLED) {
    return BatonError.precondition(`workflow run ${lease.runId} was cancelled`, ErrorReason.RUN_CANCELLED);
  }
  // To its worker a terminated run is a cancelled one: the SDK stops its execution the same way.
  if (run.status === RunStatus.TERMINATED) {
    return BatonError.precondition(`workflow run ${lease.runId} was terminated`, ErrorReason.RUN_CANCELLED);
  }
  if (run.status === RunStatus.COMPLETED || run.status === RunStatus.FAILED) {
    return BatonError.precondition(`workflow run ${lease.runId} is already ${run.status}`, ErrorReason.RUN_TERMINAL);
  }
  return BatonError.precondition(
    `worker ${lease.workerId} no longer holds workflow run ${lease.runId} (lease epoch ${lease.leaseEpoch}; run is ${run.status})`,
    ErrorReason.LEASE_LOST,
  );
}

/**
 * Invariant 6: a step id recorded at another position or of another kind, or
 * another step recorded at this position, means the code changed.
 */
export async function checkStepPosition(
  q: Querier,
  runId: string,
  stepId: string,
  seq: number,
  kind: string,
): Promise<void> {
  const recorded = await q.rows(
    `SELECT step_id, seq, kind FROM step_runs WHERE run_id = $1 AND (step_id = $2 OR seq = $3)`,
    [runId, stepId, seq],
  );
  for (const step of recorded) {
    if (step.step_id === stepId && (step.seq !== seq || step.kind !== kind)) {
      throw BatonError.precondition(
        `non-deterministic replay: step "${stepId}" was recorded as ${step.kind} #${step.seq}, now requested as ${kind} #${seq}`,
        ErrorReason.NON_DETERMINISTIC,
      );
    }
    if (step.step_id !== stepId) {
      throw BatonError.precondition(
        `non-deterministic replay: position #${seq} holds ${step.kind} "${step.step_id}", now requested as ${kind} "${stepId}"`,
        ErrorReason.NON_DETERMINISTIC,
      );
    }
  }
}

// A step is recorded only where the history has room for it: never at a position
// another step holds ($5 step id, $6 seq).
export const freeSeq = (runId: string, stepId: string, seq: string) =>
  `NOT EXISTS (SELECT 1 FROM step_runs o WHERE o.run_id = ${runId} AND o.seq = ${seq} AND o.step_id <> ${stepId})`;
export const FREE_SEQ = freeSeq('$1', '$5', '$6');
