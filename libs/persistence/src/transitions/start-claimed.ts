import { uuidv7 } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { CLAIMABLE_NOW, FRESH_OWNERS, WORKER_ROOM_GUARD, toClaimedRun } from './claim';
import type { ClaimedRun } from './claim';
import { FLOW_COLUMNS, flowParams, flowValues } from './flow-control';
import { LIVE_STATUSES, ms } from './fragments';
import { runOptionParams } from './start-run';
import type { CreateRunCommand } from './start-run';

/*
 * Eager dispatch: a start for which a poll is already waiting inserts the run
 * already claimed for that poll's worker, in one statement (one commit)
 * instead of START_RUN's insert then CLAIM_BATCH's update. Parameters $1..$5
 * are CLAIM_BATCH's (namespace, queue, the one worker as uuid[], the run's
 * type as text[], ack timeout ms), so the worker-room guard and the owners'
 * lock and freshness test are the very same SQL (see CLAIM_BATCH for why each
 * matters); $6.. are START_RUN's.
 *
 * The run is inserted RUNNING for the worker only if the guard lets the
 * worker take one more run of that type AND no older run of the type is
 * claimable on the queue (FIFO: that one is served first). Otherwise it is
 * inserted PENDING exactly as START_RUN does, and the caller rings the queue.
 * Flow control ($15..$17, flowParams) is the claim's to enforce: a run with a
 * concurrency key, or one a rate limit of its queue or type covers, is never
 * inserted claimed (NOT_FLOW_LIMITED). Priority needs nothing more: any
 * claimable run of the type, of whatever priority, already means PENDING.
 * RUNNING here is what a first claim leaves: lease_epoch and claims one past
 * their column defaults (0), a new random lease token, the short
 * acknowledgement lease, undelivered, started now; the worker's row is
 * written (`touched`) as a claim writes it, so a concurrent claim for the
 * same worker sees its counts changed. A conflict on the external-id index
 * inserts nothing (as START_RUN).
 */
/** Eager dispatch may claim the new run: it has no concurrency key and no rate limit covers it. */
const NOT_FLOW_LIMITED = `$16::text IS NULL AND NOT EXISTS (
    SELECT 1 FROM rate_limits l
    WHERE l.namespace = $1
      AND ((l.scope = 'queue' AND l.name = $2) OR (l.scope = 'workflow_type' AND l.name = ($4::text[])[1])))`;

export const START_RUN_CLAIMED = `
  WITH ${WORKER_ROOM_GUARD}, older AS (
    SELECT r.id FROM workflow_runs r
    WHERE r.namespace = $1 AND r.task_queue = $2 AND ${CLAIMABLE_NOW} AND r.workflow_type = ANY ($4::text[])
    LIMIT 1
  ), matched AS (
    SELECT w.ord, w.worker_id FROM waiter w JOIN full_steps f ON f.ord = w.ord
    WHERE NOT EXISTS (SELECT FROM older) AND ${NOT_FLOW_LIMITED}
  ), ${FRESH_OWNERS}, pairs AS (
    SELECT m.* FROM matched m WHERE m.worker_id IN (SELECT f.id FROM fresh f)
  ), run AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, retry_policy,
                               deadline_at, correlation_id, trace_id, traceparent,
                               locked_by, lease_epoch, lease_token, claims, locked_until, started_at,
                               ${FLOW_COLUMNS})
    SELECT $6::uuid, $1::text, $2::text, ($4::text[])[1], CASE WHEN p.worker_id IS NULL THEN 'PENDING' ELSE 'RUNNING' END,
           $7::text, $8::jsonb, CASE WHEN $9::bigint IS NULL THEN NULL ELSE now() + ${ms('$9')} END, $10::text, $11::text,
           $14::text, p.worker_id, (p.worker_id IS NOT NULL)::int,
           CASE WHEN p.worker_id IS NULL THEN NULL ELSE gen_random_uuid() END, (p.worker_id IS NOT NULL)::int,
           CASE WHEN p.worker_id IS NULL THEN NULL ELSE now() + ${ms('$5')} END,
           CASE WHEN p.worker_id IS NULL THEN NULL ELSE now() END, ${flowValues(15)}
    FROM (SELECT 1) one LEFT JOIN pairs p ON true
    ON CONFLICT (namespace, external_id) WHERE external_id IS NOT NULL AND status IN (${LIVE_STATUSES})
    DO NOTHING
    RETURNING *
  ), payload AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT id, $12::bytea, $13::text FROM run
    RETURNING input, input_encoding
  ), touched AS (
    UPDATE workers k SET updated_at = now()
    WHERE k.id IN (SELECT r.locked_by FROM run r)
  )
  SELECT run.*, 1 AS ord, run.locked_by IS NOT NULL AS claimed, payload.input, payload.input_encoding,
         NULL::bytea AS output, NULL::text AS output_encoding
  FROM run, payload`;

/** The inserted run's row (as START_RUN's), and the claim when it was inserted RUNNING for the worker. */
export interface StartedClaimed {
  row: Row;
  claimed: ClaimedRun | null;
}

/**
 * (none) → RUNNING for `workerId` (undelivered, lease `ackTimeoutMs`) when
 * the guard passes and nothing older of the type is claimable, else
 * (none) → PENDING. Null when a live run holds the external id.
 */
export async function startRunClaimed(
  q: Querier,
  cmd: CreateRunCommand,
  workerId: string,
  ackTimeoutMs: number,
): Promise<StartedClaimed | null> {
  const [row] = await q.rows(START_RUN_CLAIMED, [
    cmd.namespace,
    cmd.queue,
    [workerId],
    [cmd.workflowType],
    ackTimeoutMs,
    uuidv7(),
    ...runOptionParams(cmd),
    ...flowParams(cmd),
  ]);
  if (!row) return null;
  return { row, claimed: row.claimed === true ? toClaimedRun(row) : null };
}
