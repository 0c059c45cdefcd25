import { uuidv7 } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { CLAIMABLE_NOW, FRESH_OWNERS, WORKER_ROOM_GUARD, toClaimedRun } from './claim';
import type { ClaimedRun } from './claim';
import { FLOW_COLUMNS } from './flow-control';
import { LIVE_STATUSES, ms } from './fragments';
import { runOptionColumns } from './start-run';
import type { CreateRunCommand } from './start-run';

/*
 * Eager dispatch: starts for which polls are already waiting insert their
 * runs already claimed for those polls' workers, in one statement (one
 * commit) instead of START_RUNS's insert then CLAIM_BATCH's update. All the
 * runs are of one namespace, queue and type. Parameters $1..$5 are
 * CLAIM_BATCH's (namespace, queue, the reserved places as worker ids in FIFO
 * order, a worker once per place, the type as text[], ack timeout ms), so
 * the worker-room guard and the owners' lock and freshness test are the very
 * same SQL (see CLAIM_BATCH for why each matters); $6.. are the runs, one
 * array per column, as START_RUNS takes them.
 *
 * The places the guard lets take one more run of the type (`full_steps`,
 * numbered by `slot`) are paired with the runs in claim order (priority,
 * then the order of the starts), provided no older run of the type is
 * claimable on the queue (FIFO: that one is served first); a paired run is
 * inserted RUNNING for its place's worker, every other one PENDING exactly
 * as START_RUNS inserts it, and the caller rings the queue for those. Flow
 * control is the claim's to enforce: a run with a concurrency key is never
 * started here (the caller keeps those out), and while a rate limit covers
 * the queue or the type none is inserted claimed. RUNNING here is what a
 * first claim leaves: lease_epoch and claims one past their column defaults
 * (0), a new random lease token, the short acknowledgement lease,
 * undelivered, started now; the workers' rows are written (`touched`) as a
 * claim writes them, so a concurrent claim for the same worker sees its
 * counts changed. Rows are inserted in (external id, start) order as
 * START_RUNS does; a conflict on the external-id index inserts nothing for
 * that run (its place goes unused).
 */
const RATE_LIMIT_FREE = `NOT EXISTS (
    SELECT 1 FROM rate_limits l
    WHERE l.namespace = $1
      AND ((l.scope = 'queue' AND l.name = $2) OR (l.scope = 'workflow_type' AND l.name = ($4::text[])[1])))`;

export const START_RUNS_CLAIMED = `
  WITH ${WORKER_ROOM_GUARD}, older AS (
    SELECT r.id FROM workflow_runs r
    WHERE r.namespace = $1 AND r.task_queue = $2 AND ${CLAIMABLE_NOW} AND r.workflow_type = ANY ($4::text[])
    LIMIT 1
  ), matched AS (
    SELECT w.ord, w.worker_id, f.slot FROM waiter w JOIN full_steps f ON f.ord = w.ord
    WHERE NOT EXISTS (SELECT FROM older) AND ${RATE_LIMIT_FREE}
  ), ${FRESH_OWNERS}, pairs AS (
    SELECT m.ord, m.worker_id, row_number() OVER (ORDER BY m.slot) AS k
    FROM matched m WHERE m.worker_id IN (SELECT f.id FROM fresh f)
  ), item AS (
    SELECT i.*, row_number() OVER (ORDER BY i.priority DESC, i.n) AS k
    FROM unnest($6::uuid[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::bytea[], $13::text[],
                $14::text[], $15::int[])
      WITH ORDINALITY AS i(id, external_id, retry_policy, timeout_ms, correlation_id, trace_id, input, input_encoding,
                           traceparent, priority, n)
  ), placed AS (
    SELECT i.*, p.ord AS place, p.worker_id FROM item i LEFT JOIN pairs p ON p.k = i.k
  ), run AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, retry_policy,
                               deadline_at, correlation_id, trace_id, traceparent,
                               locked_by, lease_epoch, lease_token, claims, locked_until, started_at,
                               ${FLOW_COLUMNS})
    SELECT i.id, $1::text, $2::text, ($4::text[])[1], CASE WHEN i.worker_id IS NULL THEN 'PENDING' ELSE 'RUNNING' END,
           i.external_id, i.retry_policy::jsonb, CASE WHEN i.timeout_ms IS NULL THEN NULL ELSE now() + ${ms('i.timeout_ms')} END,
           i.correlation_id, i.trace_id, i.traceparent, i.worker_id, (i.worker_id IS NOT NULL)::int,
           CASE WHEN i.worker_id IS NULL THEN NULL ELSE gen_random_uuid() END, (i.worker_id IS NOT NULL)::int,
           CASE WHEN i.worker_id IS NULL THEN NULL ELSE now() + ${ms('$5')} END,
           CASE WHEN i.worker_id IS NULL THEN NULL ELSE now() END, i.priority, NULL::text, NULL::int
    FROM placed i ORDER BY i.external_id, i.n
    ON CONFLICT (namespace, external_id) WHERE external_id IS NOT NULL AND status IN (${LIVE_STATUSES})
    DO NOTHING
    RETURNING *
  ), payload AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT i.id, i.input, i.input_encoding FROM item i JOIN run ON run.id = i.id
    RETURNING run_id, input, input_encoding
  ), touched AS (
    UPDATE workers k SET updated_at = now()
    WHERE k.id IN (SELECT r.locked_by FROM run r)
  )
  SELECT run.*, i.place AS ord, run.locked_by IS NOT NULL AS claimed, payload.input, payload.input_encoding,
         NULL::bytea AS output, NULL::text AS output_encoding
  FROM run JOIN payload ON payload.run_id = run.id JOIN placed i ON i.id = run.id`;

/** An inserted run's row (as START_RUNS's), and its claim when it was inserted RUNNING for a place's worker. */
export interface StartedClaimed {
  row: Row;
  claimed: ClaimedRun | null;
}

/**
 * (none) → RUNNING for the worker of one of `places` (undelivered, lease
 * `ackTimeoutMs`; ClaimedRun.waiter is the index of its place) where the
 * guard allows and nothing older of the type is claimable, else (none) →
 * PENDING. Every command is of one namespace, queue and type, without a
 * concurrency key. Per command its outcome, or null when a live run holds
 * its external id.
 */
export async function startRunsClaimed(
  q: Querier,
  cmds: readonly CreateRunCommand[],
  places: readonly string[],
  ackTimeoutMs: number,
): Promise<Array<StartedClaimed | null>> {
  const [first] = cmds;
  if (!first) return [];
  const ids = cmds.map(() => uuidv7());
  const rows = await q.rows(START_RUNS_CLAIMED, [
    first.namespace,
    first.queue,
    places,
    [first.workflowType],
    ackTimeoutMs,
    ids,
    ...runOptionColumns(cmds),
    cmds.map((c) => c.priority ?? 0),
  ]);
  const byId = new Map(rows.map((row) => [row.id as string, row]));
  return ids.map((id) => {
    const row = byId.get(id);
    if (!row) return null;
    return { row, claimed: row.claimed === true ? toClaimedRun(row) : null };
  });
}
