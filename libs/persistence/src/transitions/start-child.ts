import { BatonError, CHILD_CANCELLED_ERROR_TYPE, ErrorCode, ErrorReason, uuidv7 } from '@baton/contracts';
import type { Payload, RetryPolicy, StepView } from '@baton/contracts';
import { toStepView } from '../rows';
import type { Querier, Row } from '../sql';
import { LIVE_STATUSES, UNLOCK, UNTIL_WOKEN } from './fragments';
import { LEASE_GUARD, checkStepPosition, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';
import { START_CHILD_RUN, runOptionParams } from './start-run';
import { stepRow } from './steps';

/*
 * ctx.child: a CHILD step of the parent starts a run (its child) and waits
 * for it. One short transaction under the parent's lease:
 *
 *  1. LOCK_PARENT: the parent's row FOR UPDATE.
 *  2. the step's position and kind (invariant 6).
 *  3. the child this step started (unique on parent run and step), else a
 *     new one, inserted by START_CHILD_RUN (the start statement itself).
 *  4. RECORD_CHILD_STEP: the CHILD step RUNNING with the child's id, or, once
 *     the child has finished, COMPLETED with its output / FAILED for good with
 *     its error: later replays read the outcome from the history.
 *  5. PARK_FOR_CHILDREN (when asked, and the child is live): RUNNING →
 *     SLEEPING until woken (UNTIL_WOKEN, no worker slot held), unless one of
 *     the children the workflow awaits has finished.
 *
 * Why the lock first, and FOR UPDATE: a child that finishes wakes its parked
 * parent from a trigger (baton_wake_parent, migration 1767400000000), which
 * first takes KEY SHARE on the parent's row. FOR UPDATE is the one lock that
 * conflicts with it. A child that finished before step 1 made it wait until
 * that child committed, so steps 3 to 5 (each its own snapshot) see it
 * finished; one that finishes after step 1 waits in its trigger until this
 * transaction commits and then finds the parent parked and wakes it. No
 * finish is missed, and the step records a child's outcome only once it is
 * committed.
 */

/** The parent's row, locked against its children's wake trigger; what a child inherits from it. */
export const LOCK_PARENT = `
  SELECT task_queue, correlation_id, trace_id, traceparent FROM workflow_runs WHERE ${LEASE_GUARD} FOR UPDATE`;

/** The child step $2 of run $1 started, if any (workflow_runs_child_of). */
export const FIND_CHILD = `
  SELECT id, task_queue, workflow_type, deadline_at FROM workflow_runs WHERE parent_run_id = $1 AND parent_step_id = $2`;

/**
 * Step $2 at position $3 of run $1 → CHILD with child run $4: RUNNING while the
 * child is live; COMPLETED with its output, or FAILED for good with its error
 * (a cancelled child: CHILD_CANCELLED_ERROR_TYPE) once it finished. A step
 * already finished is left as it is (no row back).
 */
export const RECORD_CHILD_STEP = `
  WITH child AS (
    SELECT c.id, c.status, c.error_message, c.error_type, p.output, p.output_encoding,
           CASE WHEN c.status IN (${LIVE_STATUSES}) THEN 'RUNNING'
                WHEN c.status = 'COMPLETED' THEN 'COMPLETED' ELSE 'FAILED' END AS step_status
    FROM workflow_runs c LEFT JOIN workflow_payloads p ON p.run_id = c.id
    WHERE c.id = $4
  )
  INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, child_run_id, output, output_encoding,
                         error_message, error_type, final, finished_at)
  SELECT $1, $2, $3, 'CHILD', c.step_status, 1, c.id,
         CASE WHEN c.step_status = 'COMPLETED' THEN c.output END,
         CASE WHEN c.step_status = 'COMPLETED' THEN c.output_encoding END,
         CASE WHEN c.step_status <> 'FAILED' THEN NULL
              WHEN c.status = 'CANCELLED' THEN 'child workflow run ' || c.id || ' was cancelled'
              ELSE coalesce(c.error_message, 'child workflow run ' || c.id || ' ended ' || c.status) END,
         CASE WHEN c.step_status <> 'FAILED' THEN NULL
              WHEN c.status = 'CANCELLED' THEN '${CHILD_CANCELLED_ERROR_TYPE}'
              ELSE c.error_type END,
         c.step_status = 'FAILED', CASE WHEN c.step_status <> 'RUNNING' THEN now() END
  FROM child c
  ON CONFLICT (run_id, step_id) DO UPDATE
  SET status = excluded.status, child_run_id = excluded.child_run_id, output = excluded.output,
      output_encoding = excluded.output_encoding, error_message = excluded.error_message,
      error_type = excluded.error_type, final = excluded.final, finished_at = excluded.finished_at, updated_at = now()
  WHERE step_runs.status = 'RUNNING' AND step_runs.kind = 'CHILD' AND step_runs.seq = excluded.seq
  RETURNING *, false AS slept_out`;

/**
 * The parent $1 (its row locked) → SLEEPING until woken, its lease and slot
 * given up, unless a child of one of the CHILD steps $2 has finished (the
 * workflow would then go on at once). No row back: not parked.
 */
export const PARK_FOR_CHILDREN = `
  UPDATE workflow_runs SET status = 'SLEEPING', available_at = ${UNTIL_WOKEN}, wake_up_at = ${UNTIL_WOKEN},
         ${UNLOCK}, updated_at = now()
  WHERE id = $1 AND status = 'RUNNING'
    AND NOT EXISTS (
      SELECT 1 FROM workflow_runs c
      WHERE c.parent_run_id = $1 AND c.parent_step_id = ANY ($2::text[]) AND c.status NOT IN (${LIVE_STATUSES})
    )
  RETURNING id`;

/** What a CHILD step asks for: the child to start (or find), and whether the parent waits for it. */
export interface ChildStart {
  stepId: string;
  seq: number;
  workflowType: string;
  /** The child's queue; null: the parent's. */
  queue: string | null;
  input: Payload | null;
  externalId: string | null;
  retryPolicy: RetryPolicy | null;
  timeoutMs: number | null;
  /** Cancelling the parent cancels this child (and what it started, likewise). */
  cancelWithParent: boolean;
  /** Park the parent unless this child, or the child of one of `awaiting` (CHILD step ids), has finished. */
  park: boolean;
  awaiting: readonly string[];
}

export interface ChildStarted {
  /** The CHILD step: RUNNING with the child's id, or its outcome. */
  step: StepView;
  /** The child as this call found or inserted it. */
  child: { id: string; queue: string; deadlineAt: Date | null };
  /** The child was inserted by this call (PENDING on its queue). */
  created: boolean;
  /** The parent is parked until a child wakes it: nothing more may be done in this execution. */
  suspended: boolean;
}

/** ctx.child under the parent's lease: start (or find) the child, record the step, park if asked. Run it in a transaction. */
export async function startChild(q: Querier, lease: Lease, cmd: ChildStart): Promise<ChildStarted> {
  const [parent] = await q.rows(LOCK_PARENT, leaseParams(lease));
  if (!parent) throw await leaseMiss(q, lease);
  await checkStepPosition(q, lease.runId, cmd.stepId, cmd.seq, 'CHILD');
  let created = false;
  let [child] = await q.rows(FIND_CHILD, [lease.runId, cmd.stepId]);
  if (!child) {
    const recorded = await stepRow(q, lease.runId, cmd.stepId);
    // Only retention (or a Delete) removes a finished run: never start the step's child twice.
    if (recorded?.childRunId) {
      throw BatonError.precondition(`child workflow run ${recorded.childRunId} of step "${cmd.stepId}" was deleted`);
    }
    child = await insertChild(q, lease, parent, cmd);
    created = true;
  } else if (child.workflow_type !== cmd.workflowType) {
    throw BatonError.precondition(
      `non-deterministic replay: step "${cmd.stepId}" started a child of type "${child.workflow_type}", now asked for "${cmd.workflowType}"`,
      ErrorReason.NON_DETERMINISTIC,
    );
  }
  const [recorded] = await q.rows(RECORD_CHILD_STEP, [lease.runId, cmd.stepId, cmd.seq, child.id]);
  const step = recorded ? toStepView(recorded) : await stepRow(q, lease.runId, cmd.stepId);
  if (!step) throw await leaseMiss(q, lease);
  let suspended = false;
  if (cmd.park && step.status === 'RUNNING') {
    const parked = await q.rows(PARK_FOR_CHILDREN, [lease.runId, [cmd.stepId, ...cmd.awaiting]]);
    suspended = parked.length === 1;
  }
  return {
    step,
    child: { id: child.id, queue: child.task_queue, deadlineAt: child.deadline_at ?? null },
    created,
    suspended,
  };
}

/** START_CHILD_RUN: the child inherits the parent's namespace, queue (unless named), correlation and trace. */
async function insertChild(q: Querier, lease: Lease, parent: Row, cmd: ChildStart): Promise<Row> {
  const options = runOptionParams({
    namespace: lease.namespace,
    queue: cmd.queue ?? parent.task_queue,
    workflowType: cmd.workflowType,
    input: cmd.input,
    externalId: cmd.externalId,
    retryPolicy: cmd.retryPolicy,
    timeoutMs: cmd.timeoutMs,
    correlationId: parent.correlation_id,
    traceId: parent.trace_id,
    traceparent: parent.traceparent,
  });
  const [row] = await q.rows(START_CHILD_RUN, [
    uuidv7(),
    lease.namespace,
    cmd.queue ?? parent.task_queue,
    cmd.workflowType,
    ...options,
    lease.runId,
    cmd.stepId,
    cmd.cancelWithParent,
  ]);
  if (!row) {
    throw new BatonError(
      ErrorCode.ALREADY_EXISTS,
      `child workflow of step "${cmd.stepId}": externalId ${JSON.stringify(cmd.externalId)} is held by another live run`,
      { field: 'externalId' },
    );
  }
  return row;
}
