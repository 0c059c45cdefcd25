import { BatonError, ErrorCode, ErrorReason, SIGNAL_LIMITS, isTerminal } from '@baton/contracts';
import type { Payload, RunStatus } from '@baton/contracts';
import { payloadOf } from '../rows';
import type { Querier } from '../sql';
import type { CompletedStep } from './complete-run';
import { LIVE_STATUSES, UNLOCK, UNTIL_WOKEN, ms } from './fragments';
import { FREE_SEQ, LEASE_GUARD, checkStepPosition, leaseMiss, leaseParams } from './lease';
import type { Lease } from './lease';
import { lockLeasedRun } from './park-for-retry';
import { completeStep } from './steps';

/*
 * Signals: a send stores a signal (and wakes the run if it is parked on a
 * wait for that name); a wait consumes the oldest unconsumed signal of its
 * name, or times out, or parks the run. Each is one short transaction that
 * first locks the run row, then does its work in one statement.
 *
 * Why the lock first: a statement reads every table as of its start. A wait
 * that found no signal and a send that found no parked wait, each in one
 * statement running at the same time, would both miss the other: the signal
 * stays buffered, the run sleeps on. Both lock the run row before reading, so
 * one of them commits first and the other's statement, started after that,
 * sees it: the wait consumes the signal, or the send wakes the parked run.
 * The same lock orders concurrent sends, so signals of a run are stored (and
 * their ids drawn) in the order their sends committed.
 */

/** Which run a signal is for: its id, or the external id a live run holds. */
/**
 * Gives back the signals that the steps a statement deletes (CTE `stepsCte`,
 * a `step_id` column) had consumed, for waits run again (an operator's reset):
 * unconsumed again, they keep their place in the send order.
 */
export const releaseSignals = (runParam: string, stepsCte: string) => `
  UPDATE run_signals g SET consumed_by_step = NULL, consumed_at = NULL
  WHERE g.run_id = ${runParam} AND g.consumed_by_step IN (SELECT step_id FROM ${stepsCte})`;

export type SignalTarget = { runId: string } | { externalId: string };

export interface SignalCommand {
  namespace: string;
  target: SignalTarget;
  name: string;
  payload: Payload | null;
  /** The client's id for this send, the same on its retries: a second send with it stores nothing. */
  requestId: string | null;
}

export interface SignalSent {
  runId: string;
  queue: string;
  status: RunStatus;
  /** The run was parked on a wait for this name and is claimable now. */
  woken: boolean;
  /** A send with this request id was stored before: this one stored nothing. */
  duplicate: boolean;
}

/** The run by id ($1) in namespace $2, its row locked until the transaction ends. */
export const LOCK_SIGNALLED_RUN = `
  SELECT id, status, task_queue FROM workflow_runs WHERE id = $1 AND namespace = $2 FOR NO KEY UPDATE`;

/** The live run holding external id $1 in namespace $2 (workflow_runs_external_id), locked. */
export const LOCK_SIGNALLED_RUN_BY_EXTERNAL_ID = `
  SELECT id, status, task_queue FROM workflow_runs
  WHERE external_id = $1 AND namespace = $2 AND status IN (${LIVE_STATUSES}) FOR NO KEY UPDATE`;

/**
 * Signal $2 (payload $3, encoding $4, request id $6 or null) → run $1, unless
 * it already holds $5 unconsumed ones or a send with request id $6 was stored
 * (`duplicate`: a retry of a send whose reply was lost); a run parked on a
 * wait for $2 (a RUNNING SIGNAL step of that name) becomes PENDING and
 * claimable now. The run row is locked, so a concurrent retry of the same
 * send waits for this one and then sees its row.
 */
export const STORE_SIGNAL = `
  WITH duplicate AS (
    SELECT 1 FROM run_signals WHERE run_id = $1 AND request_id = $6::text
  ), signal AS (
    INSERT INTO run_signals (run_id, name, payload, encoding, request_id)
    SELECT $1::uuid, $2::text, $3::bytea, $4::text, $6::text
    WHERE NOT EXISTS (SELECT 1 FROM duplicate)
      AND (SELECT count(*) FROM run_signals WHERE run_id = $1 AND consumed_by_step IS NULL) < $5
    RETURNING id
  ), woken AS (
    UPDATE workflow_runs SET status = 'PENDING', available_at = now(), wake_up_at = now(), updated_at = now()
    WHERE id = $1 AND status = 'SLEEPING' AND EXISTS (SELECT 1 FROM signal)
      AND EXISTS (
        SELECT 1 FROM step_runs s
        WHERE s.run_id = $1 AND s.kind = 'SIGNAL' AND s.status = 'RUNNING' AND s.signal_name = $2
      )
    RETURNING id
  )
  SELECT EXISTS (SELECT 1 FROM signal) AS stored, EXISTS (SELECT 1 FROM woken) AS woken,
    EXISTS (SELECT 1 FROM duplicate) AS duplicate`;

/** The signal of run $1 sent with request id $2, if it was stored. */
export const SIGNAL_SENT_BEFORE = `SELECT 1 FROM run_signals WHERE run_id = $1 AND request_id = $2`;

/** Stores a signal for a live run, waking it if it waits for this name. Run it in a transaction. */
export async function sendSignal(q: Querier, cmd: SignalCommand): Promise<SignalSent> {
  const byId = 'runId' in cmd.target;
  const key = 'runId' in cmd.target ? cmd.target.runId : cmd.target.externalId;
  const [run] = await q.rows(byId ? LOCK_SIGNALLED_RUN : LOCK_SIGNALLED_RUN_BY_EXTERNAL_ID, [key, cmd.namespace]);
  if (!run) {
    throw BatonError.notFound(
      byId ? `workflow run ${key}` : `live workflow run with external id ${JSON.stringify(key)}`,
    );
  }
  if (isTerminal(run.status)) {
    // A retry of a send that was stored before the run finished succeeded the first time.
    if (cmd.requestId !== null && (await q.rows(SIGNAL_SENT_BEFORE, [run.id, cmd.requestId])).length > 0) {
      return { runId: run.id, queue: run.task_queue, status: run.status, woken: false, duplicate: true };
    }
    throw BatonError.precondition(
      `workflow run ${run.id} is already ${run.status}: a finished run takes no signals`,
      ErrorReason.SIGNAL_RUN_FINISHED,
    );
  }
  const max = SIGNAL_LIMITS.maxBufferedPerRun;
  const [stored] = await q.rows(STORE_SIGNAL, [
    run.id,
    cmd.name,
    cmd.payload?.data ?? null,
    cmd.payload?.encoding ?? null,
    max,
    cmd.requestId,
  ]);
  if (stored?.duplicate) {
    return { runId: run.id, queue: run.task_queue, status: run.status, woken: false, duplicate: true };
  }
  if (!stored?.stored) {
    throw new BatonError(
      ErrorCode.RESOURCE_EXHAUSTED,
      `workflow run ${run.id} already holds ${max} signals that no wait has consumed`,
    );
  }
  return { runId: run.id, queue: run.task_queue, status: run.status, woken: stored.woken, duplicate: false };
}

/**
 * A wait (step $5 at position $6 for signal $7, timeout $8 ms or null) under
 * the lease, whose row is locked. The step's deadline is fixed when it is
 * first recorded (a replay never restarts the clock). Unless the step is
 * already COMPLETED (outcome null: a repeat, answered with its record):
 *  - SIGNALLED: the oldest unconsumed signal of that name sent before the
 *    deadline is marked consumed by this step, and the step COMPLETED with
 *    its payload;
 *  - TIMED_OUT: none, and the deadline has passed: the step COMPLETED with no
 *    output, for good (a later signal is left for a later wait);
 *  - PARKED: otherwise RUNNING → SLEEPING, claimable at the deadline
 *    (UNTIL_WOKEN without one), the step RUNNING with the name it waits for.
 */
export const WAIT_FOR_SIGNAL = `
  WITH existing AS (
    SELECT status, seq, kind, signal_name, wake_up_at, output, output_encoding
    FROM step_runs WHERE run_id = $1 AND step_id = $5
  ), run AS (
    SELECT id FROM workflow_runs
    WHERE ${LEASE_GUARD} AND ${FREE_SEQ}
      AND NOT EXISTS (SELECT 1 FROM existing WHERE seq <> $6 OR kind <> 'SIGNAL' OR signal_name IS DISTINCT FROM $7)
  ), waiting AS (
    SELECT CASE WHEN EXISTS (SELECT 1 FROM existing) THEN coalesce((SELECT wake_up_at FROM existing), ${UNTIL_WOKEN})
                WHEN $8::bigint IS NULL THEN ${UNTIL_WOKEN}
                ELSE now() + ${ms('$8')} END AS at
    FROM run WHERE NOT EXISTS (SELECT 1 FROM existing WHERE status = 'COMPLETED')
  ), signal AS (
    SELECT s.id, s.payload, s.encoding FROM run_signals s, waiting w
    WHERE s.run_id = $1 AND s.name = $7 AND s.consumed_by_step IS NULL AND s.created_at < w.at
    ORDER BY s.id LIMIT 1
  ), consumed AS (
    UPDATE run_signals s SET consumed_by_step = $5, consumed_at = now()
    FROM signal WHERE s.run_id = $1 AND s.id = signal.id
  ), outcome AS (
    SELECT w.at, CASE WHEN EXISTS (SELECT 1 FROM signal) THEN 'SIGNALLED'
                      WHEN w.at <= now() THEN 'TIMED_OUT' ELSE 'PARKED' END AS kind
    FROM waiting w
  ), parked AS (
    UPDATE workflow_runs SET status = 'SLEEPING', available_at = o.at, wake_up_at = o.at, ${UNLOCK}, updated_at = now()
    FROM outcome o WHERE id = $1 AND o.kind = 'PARKED'
    RETURNING task_queue
  ), step AS (
    INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, signal_name, wake_up_at,
                           output, output_encoding, finished_at)
    SELECT $1, $5, $6, 'SIGNAL', CASE WHEN o.kind = 'PARKED' THEN 'RUNNING' ELSE 'COMPLETED' END, 1, $7,
           CASE WHEN o.at < ${UNTIL_WOKEN} THEN o.at END, sg.payload, sg.encoding,
           CASE WHEN o.kind <> 'PARKED' THEN now() END
    FROM outcome o LEFT JOIN signal sg ON true
    ON CONFLICT (run_id, step_id) DO UPDATE
    SET status = excluded.status, output = excluded.output, output_encoding = excluded.output_encoding,
        finished_at = excluded.finished_at, updated_at = now()
    WHERE step_runs.status = 'RUNNING'
  )
  SELECT o.kind AS outcome, o.at AS due_at, p.task_queue AS queue,
         CASE WHEN o.kind IS NULL THEN e.output ELSE sg.payload END AS payload,
         CASE WHEN o.kind IS NULL THEN e.output_encoding ELSE sg.encoding END AS encoding,
         CASE WHEN o.kind IS NULL
              THEN NOT EXISTS (SELECT 1 FROM run_signals c WHERE c.run_id = $1 AND c.consumed_by_step = $5)
              ELSE o.kind = 'TIMED_OUT' END AS timed_out
  FROM run
  LEFT JOIN outcome o ON true
  LEFT JOIN signal sg ON true
  LEFT JOIN parked p ON true
  LEFT JOIN existing e ON true`;

/** What a wait came to: a value (a signal's payload, or none on timeout), or the run parked. */
export type SignalWait =
  | { suspended: false; payload: Payload | null; timedOut: boolean }
  | { suspended: true; wakeUpAt: Date | null; queue: string };

export interface SignalWaitStep {
  stepId: string;
  seq: number;
  name: string;
  /** null: no timeout. */
  timeoutMs: number | null;
}

/**
 * ctx.waitForSignal under the lease, with the step completed just before it
 * (`lastStep`) recorded in the same commit. Run it in a transaction: the run
 * row is locked first (see the top of this file).
 */
export async function waitForSignal(
  q: Querier,
  lease: Lease,
  wait: SignalWaitStep,
  lastStep: CompletedStep | null,
): Promise<SignalWait> {
  await lockLeasedRun(q, lease);
  if (lastStep) await completeStep(q, lease, lastStep);
  const params = [...leaseParams(lease), wait.stepId, wait.seq, wait.name, wait.timeoutMs];
  const [row] = await q.rows(WAIT_FOR_SIGNAL, params);
  if (!row) {
    // The lease held a moment ago and its row is locked: the step's position, kind or name is what failed.
    await checkStepPosition(q, lease.runId, wait.stepId, wait.seq, 'SIGNAL');
    await checkSignalName(q, lease.runId, wait);
    throw await leaseMiss(q, lease);
  }
  if (row.outcome === 'PARKED') {
    return { suspended: true, wakeUpAt: row.due_at instanceof Date ? row.due_at : null, queue: row.queue };
  }
  return { suspended: false, payload: payloadOf(row.payload, row.encoding), timedOut: row.timed_out === true };
}

/** Invariant 6 for waits: the step waited for another signal when it was recorded. */
async function checkSignalName(q: Querier, runId: string, wait: SignalWaitStep): Promise<void> {
  const [step] = await q.rows(`SELECT signal_name FROM step_runs WHERE run_id = $1 AND step_id = $2`, [
    runId,
    wait.stepId,
  ]);
  if (step && step.signal_name !== wait.name) {
    throw BatonError.precondition(
      `non-deterministic replay: step "${wait.stepId}" was recorded waiting for signal ${JSON.stringify(step.signal_name)}, now asked to wait for ${JSON.stringify(wait.name)}`,
      ErrorReason.NON_DETERMINISTIC,
    );
  }
}
