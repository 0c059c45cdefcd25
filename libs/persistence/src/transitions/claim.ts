import type { Payload } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { payloadOf } from '../rows';
import { CLAIMABLE_STATUSES, ms } from './fragments';

/** One waiting poll: the worker that asked. All waiters of one claim ask for the same types. */
export interface ClaimWaiter {
  workerId: string;
}

export interface ClaimedRun {
  /** Index in the `waiters` passed to claimBatch of the poll this run was claimed for. */
  waiter: number;
  runId: string;
  workerId: string;
  workflowType: string;
  attempt: number;
  leaseEpoch: number;
  /** The claim's random lease token: handed to the worker in its task, and nowhere else. */
  leaseToken: string;
  claims: number;
  deadlineAt: Date | null;
  correlationId: string | null;
  traceId: string | null;
  /** The run's W3C trace context: its claim and every execution of it continue that trace. */
  traceparent?: string | null;
  input: Payload | null;
  /** Seconds the run waited claimable (since its available_at) before this claim; 0 when inserted claimed. */
  waitedS?: number;
}

export interface ClaimBatchResult {
  runs: ClaimedRun[];
  /**
   * Some waiters may be servable now but were not: a worker's counts changed
   * under the statement (a concurrent claim or heartbeat), or runs were held
   * back to keep a per-type limit. Claim again at once.
   */
  retry: boolean;
  /** Fewer claimable runs of these types than unrestricted waiters: no more to claim for them now. */
  exhausted: boolean;
}

/** A run `r` a claim may take now: PENDING, or SLEEPING and due (available_at is then the wake time). */
export const CLAIMABLE_NOW = `r.status IN (${CLAIMABLE_STATUSES}) AND r.available_at <= now()`;

/**
 * The worker-room guard every claim applies, written once (CLAIM_BATCH and
 * START_RUN_CLAIMED): CTEs `waiter`, `live`, `held`, `steps`, `allowed` and
 * `full_steps` over $1 namespace, $2 queue, $3 the waiters' worker ids
 * (uuid[], FIFO) and $4 the asked types (text[]). `full_steps` lists, with a
 * slot number in FIFO order, the waiters (by `ord`) allowed every asked type.
 */
export const WORKER_ROOM_GUARD = `
  waiter AS (
    SELECT w.worker_id, w.ord::int AS ord FROM unnest($3::uuid[]) WITH ORDINALITY AS w(worker_id, ord)
  ), live AS (
    SELECT k.id, k.max_concurrent, k.type_concurrency, k.workflow_types
    FROM workers k
    WHERE k.id = ANY ($3::uuid[]) AND k.status = 'ONLINE' AND k.namespace = $1 AND k.task_queue = $2
  ), held AS (
    SELECT o.locked_by AS worker_id, o.workflow_type, count(*)::int AS n
    FROM workflow_runs o
    WHERE o.status = 'RUNNING' AND o.locked_by IN (SELECT l.id FROM live l)
    GROUP BY o.locked_by, o.workflow_type
  ), steps AS (
    SELECT s.ord, s.worker_id, s.nth, l.workflow_types, l.type_concurrency
    FROM (
      SELECT w.worker_id, w.ord, row_number() OVER (PARTITION BY w.worker_id ORDER BY w.ord) AS nth FROM waiter w
    ) s
    JOIN live l ON l.id = s.worker_id
    WHERE s.nth <= l.max_concurrent - coalesce((SELECT sum(h.n) FROM held h WHERE h.worker_id = l.id), 0)
  ), allowed AS (
    SELECT s.ord, t.type
    FROM steps s
    CROSS JOIN unnest($4::text[]) AS t(type)
    LEFT JOIN held h ON h.worker_id = s.worker_id AND h.workflow_type = t.type
    WHERE t.type = ANY (s.workflow_types)
      AND (NOT s.type_concurrency ? t.type OR s.nth <= (s.type_concurrency ->> t.type)::int - coalesce(h.n, 0))
  ), full_steps AS (
    SELECT a.ord, row_number() OVER (ORDER BY a.ord) AS slot
    FROM allowed a GROUP BY a.ord HAVING count(*) = cardinality($4::text[])
  )`;

/**
 * The owners' lock and freshness test (see CLAIM_BATCH), written once: CTEs
 * `owners`, `snap` and `fresh` over a preceding CTE `matched(worker_id)` and
 * $1 namespace, $2 queue. `fresh` lists the owners whose counts this
 * statement may trust; a claim writes their rows (`touched`).
 */
export const FRESH_OWNERS = `
  owners AS (
    SELECT k.id, k.xmin::text::bigint AS xmin32
    FROM workers k
    WHERE k.id IN (SELECT m.worker_id FROM matched m) AND k.status = 'ONLINE' AND k.namespace = $1 AND k.task_queue = $2
    ORDER BY k.id
    FOR NO KEY UPDATE
  ), snap AS (
    SELECT pg_snapshot_xmax(t.s)::text::bigint & 4294967295 AS xmax32,
           ARRAY(SELECT x::text::bigint & 4294967295 FROM pg_snapshot_xip(t.s) AS x) AS xip32
    FROM pg_current_snapshot() AS t(s)
  ), fresh AS (
    SELECT o.id FROM owners o, snap
    WHERE ((o.xmin32 - snap.xmax32) & 4294967295) >= 2147483648 AND o.xmin32 <> ALL (snap.xip32)
  )`;

/*
 * Claims up to one run per waiter, in one statement (invariant 7: limits hold
 * whatever a poll asks for; the SDK's own slot counting is only the first line):
 *
 *  - live: a waiter counts only if its worker is ONLINE on this namespace and
 *    queue; held: the runs each such worker holds RUNNING, by type.
 *  - steps: a worker's n-th waiter (FIFO) counts only while it has room for n
 *    more under max_concurrent.
 *  - allowed: (waiter, type) for each asked type the worker registered and, if
 *    the type has a limit in type_concurrency, the worker's n-th waiter only
 *    while it has room for n more of that type. So a worker never gets more of
 *    a type than its limit, nor more runs than its room, whatever it asks.
 *  - first pass: waiters allowed every asked type ("full", the normal case)
 *    are paired in order with the oldest claimable runs of those types: the
 *    oldest waiter gets the oldest run (FIFO).
 *  - second pass: the others (a buggy worker asking for a type it is at its
 *    limit for, or never registered) are paired per type with the next oldest
 *    runs of a type they may take; each keeps its oldest match, and a run
 *    matched twice waits for the next round (`retry`).
 *  - owners: the rows of the workers that got a run are locked, so two claims
 *    for one worker serialise (only those: a hundred idle waiters cost no
 *    locks). The lock alone is not enough under READ COMMITTED: a claim that
 *    waited for it counted `held` in its own, older snapshot. Every claim
 *    therefore writes a new version of its owners' rows (`touched`); an owner
 *    whose row version is not visible in this statement's snapshot changed
 *    after the statement began (another claim, a heartbeat, a deregistration),
 *    so its counts may be stale: its runs are not claimed here, and `retry`
 *    asks for another round at once. The test is pg_visible_in_snapshot on
 *    32-bit xids: in progress at the snapshot, or at or past its xmax (modulo
 *    2^32), is not visible. Locking re-checks ONLINE on the newest row version.
 * Runs are PENDING, or SLEEPING and due (available_at is the wake time), taken
 * with FOR UPDATE SKIP LOCKED so concurrent claimers never share one. The
 * lease is short ($5, the acknowledgement timeout) and `delivered` false until
 * the worker acknowledges the task (see heartbeat.ts). Each claim draws a new
 * random lease token (gen_random_uuid(): 122 random bits) that every worker
 * mutation must carry: the only secret of the lease (invariant 13).
 */
export const CLAIM_BATCH = `
  WITH ${WORKER_ROOM_GUARD}, first_pass AS (
    SELECT c.id, row_number() OVER (ORDER BY c.available_at, c.id) AS slot
    FROM (
      SELECT r.id, r.available_at FROM workflow_runs r
      WHERE r.namespace = $1 AND r.task_queue = $2 AND ${CLAIMABLE_NOW}
        AND r.workflow_type = ANY ($4::text[])
      ORDER BY r.available_at, r.id
      LIMIT (SELECT count(*) FROM full_steps)
      FOR UPDATE SKIP LOCKED
    ) c
  ), restricted AS (
    SELECT a.ord, a.type, row_number() OVER (PARTITION BY a.type ORDER BY a.ord) AS slot
    FROM allowed a WHERE a.ord NOT IN (SELECT f.ord FROM full_steps f)
  ), second_pass AS (
    SELECT t.type, c.id, c.available_at,
           row_number() OVER (PARTITION BY t.type ORDER BY c.available_at, c.id) AS slot
    FROM (SELECT r.type, count(*) AS n FROM restricted r GROUP BY r.type) t
    CROSS JOIN LATERAL (
      SELECT r.id, r.available_at FROM workflow_runs r
      WHERE r.namespace = $1 AND r.task_queue = $2 AND ${CLAIMABLE_NOW}
        AND r.workflow_type = t.type AND r.id NOT IN (SELECT p.id FROM first_pass p)
      ORDER BY r.available_at, r.id
      LIMIT t.n
      FOR UPDATE SKIP LOCKED
    ) c
  ), matched AS (
    SELECT m.ord, m.id, w.worker_id
    FROM (
      SELECT f.ord, p.id FROM full_steps f JOIN first_pass p ON p.slot = f.slot
      UNION ALL
      (SELECT DISTINCT ON (r.ord) r.ord, s.id
       FROM restricted r JOIN second_pass s ON s.type = r.type AND s.slot = r.slot
       ORDER BY r.ord, s.available_at, s.id)
    ) m
    JOIN waiter w ON w.ord = m.ord
  ), ${FRESH_OWNERS}, pairs AS (
    SELECT m.* FROM matched m WHERE m.worker_id IN (SELECT f.id FROM fresh f)
  ), claimed AS (
    UPDATE workflow_runs r
    SET status = 'RUNNING', locked_by = p.worker_id, lease_epoch = r.lease_epoch + 1, lease_token = gen_random_uuid(),
        claims = r.claims + 1, locked_until = now() + ${ms('$5')}, delivered = false, wake_up_at = NULL,
        started_at = coalesce(r.started_at, now()), updated_at = now()
    FROM pairs p
    WHERE r.id = p.id
    RETURNING p.ord, r.id, r.locked_by, r.workflow_type, r.attempt, r.lease_epoch, r.lease_token, r.claims, r.deadline_at,
              r.correlation_id, r.trace_id, r.traceparent, extract(epoch FROM now() - r.available_at)::float8 AS waited_s
  ), touched AS (
    UPDATE workers k SET updated_at = now()
    WHERE k.id IN (SELECT p.worker_id FROM pairs p)
  ), outcome AS (
    SELECT (SELECT count(*) FROM matched) > (SELECT count(*) FROM pairs)
             OR (SELECT count(*) FROM second_pass)
                > (SELECT count(*) FROM matched m WHERE m.ord NOT IN (SELECT f.ord FROM full_steps f)) AS retry,
           (SELECT count(*) FROM first_pass) < (SELECT count(*) FROM full_steps) AS exhausted
  )
  SELECT o.retry, o.exhausted, c.*, pl.input, pl.input_encoding
  FROM outcome o
  LEFT JOIN claimed c ON true
  LEFT JOIN workflow_payloads pl ON pl.run_id = c.id`;

/** PENDING | due SLEEPING → RUNNING (undelivered, short lease) for a batch of waiting polls. */
export async function claimBatch(
  q: Querier,
  namespace: string,
  queue: string,
  waiters: ClaimWaiter[],
  workflowTypes: string[],
  ackTimeoutMs: number,
): Promise<ClaimBatchResult> {
  const types = [...new Set(workflowTypes)];
  if (waiters.length === 0 || types.length === 0) return { runs: [], retry: false, exhausted: false };
  const rows = await q.rows(CLAIM_BATCH, [namespace, queue, waiters.map((w) => w.workerId), types, ackTimeoutMs]);
  const first = rows[0]!;
  return {
    retry: first.retry === true,
    exhausted: first.exhausted === true,
    runs: rows.filter((row) => row.id !== null).map(toClaimedRun),
  };
}

/** A claimed run's row (`ord`: 1-based index of its waiter, the run's columns, its input payload). */
export function toClaimedRun(row: Row): ClaimedRun {
  return {
    waiter: row.ord - 1,
    runId: row.id,
    workerId: row.locked_by,
    workflowType: row.workflow_type,
    attempt: row.attempt,
    leaseEpoch: row.lease_epoch,
    leaseToken: row.lease_token,
    claims: row.claims,
    deadlineAt: row.deadline_at,
    correlationId: row.correlation_id,
    traceId: row.trace_id,
    traceparent: row.traceparent ?? null,
    input: payloadOf(row.input, row.input_encoding),
    waitedS: Math.max(0, Number(row.waited_s ?? 0)),
  };
}
