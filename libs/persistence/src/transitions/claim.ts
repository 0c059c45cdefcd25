import type { Payload } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { payloadOf } from '../rows';
import { CLAIMABLE_STATUSES, ms } from './fragments';
import { ADMISSION, FLOW_WRITES, KEYED_LEFT, PLAIN_ADMISSION, RATE_PROBE, RATE_ROOM, claimOrder } from './flow-control';

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
  /**
   * A rate limit of this queue or of an asked type is full: in how many ms
   * (database clock) its next claim frees. Null when none is full.
   */
  throttledMs: number | null;
  /** Flow control (a key, a rate limit) was in play on this queue: claim it with CLAIM_BATCH_FLOW next time. */
  flow: boolean;
}

/** A run `r` a claim may take now: PENDING, or SLEEPING and due (available_at is then the wake time). */
export const CLAIMABLE_NOW = `r.status IN (${CLAIMABLE_STATUSES}) AND r.available_at <= now()`;

/**
 * The worker-room guard every claim applies, written once (CLAIM_BATCH and
 * START_RUNS_CLAIMED): CTEs `waiter`, `live`, `held`, `steps`, `allowed` and
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
 *  - flow control (flow-control.ts): "oldest" is (priority DESC, available_at,
 *    id); rate limits cap the scan and skip types at their limit; runs of keys
 *    that look full are skipped; `admitted` keeps of the fresh pairs what the
 *    newest key counts and rate windows let through (the rest: `retry`).
 *    `exhausted` stays false while runs with a key were left claimable (a
 *    freed slot rings nothing), and `throttled_ms` says when a full rate
 *    limit frees its next claim.
 * Runs are PENDING, or SLEEPING and due (available_at is the wake time), taken
 * with FOR UPDATE SKIP LOCKED so concurrent claimers never share one. The
 * lease is short ($5, the acknowledgement timeout) and `delivered` false until
 * the worker acknowledges the task (see heartbeat.ts). Each claim draws a new
 * random lease token (gen_random_uuid(): 122 random bits) that every worker
 * mutation must carry: the only secret of the lease (invariant 13).
 */
const claimBatchSql = (flow: boolean) => `
  WITH ${WORKER_ROOM_GUARD}, ${flow ? RATE_ROOM : RATE_PROBE}, first_pass AS (
    SELECT c.*, row_number() OVER (ORDER BY c.priority DESC, c.available_at, c.id) AS slot
    FROM (${flow ? claimOrder(true, 'true', '(SELECT b.take FROM budget b)') : claimOrder(false, 'true', '(SELECT count(*) FROM full_steps)')}) c
  ), restricted AS (
    SELECT a.ord, a.type, row_number() OVER (PARTITION BY a.type ORDER BY a.ord) AS slot
    FROM allowed a WHERE a.ord NOT IN (SELECT f.ord FROM full_steps f)
  ), second_pass AS (
    SELECT t.type, c.*, row_number() OVER (PARTITION BY t.type ORDER BY c.priority DESC, c.available_at, c.id) AS slot
    FROM (SELECT r.type, count(*) AS n FROM restricted r GROUP BY r.type) t
    CROSS JOIN LATERAL (
      ${claimOrder(flow, 'r.workflow_type = t.type AND r.id NOT IN (SELECT p.id FROM first_pass p)', 't.n')}
    ) c
  ), matched AS (
    SELECT m.ord, m.id, w.worker_id, m.workflow_type, m.priority, m.available_at, m.concurrency_key, m.concurrency_limit
    FROM (
      SELECT f.ord, p.id, p.workflow_type, p.priority, p.available_at, p.concurrency_key, p.concurrency_limit
      FROM full_steps f JOIN first_pass p ON p.slot = f.slot
      UNION ALL
      (SELECT DISTINCT ON (r.ord) r.ord, s.id, s.workflow_type, s.priority, s.available_at, s.concurrency_key,
              s.concurrency_limit
       FROM restricted r JOIN second_pass s ON s.type = r.type AND s.slot = r.slot
       ORDER BY r.ord, s.priority DESC, s.available_at, s.id)
    ) m
    JOIN waiter w ON w.ord = m.ord
  ), ${FRESH_OWNERS}, pairs AS (
    SELECT m.* FROM matched m WHERE m.worker_id IN (SELECT f.id FROM fresh f)
  ), ${flow ? ADMISSION : PLAIN_ADMISSION}, claimed AS (
    UPDATE workflow_runs r
    SET status = 'RUNNING', locked_by = p.worker_id, lease_epoch = r.lease_epoch + 1, lease_token = gen_random_uuid(),
        claims = r.claims + 1, locked_until = now() + ${ms('$5')}, delivered = false, wake_up_at = NULL,
        started_at = coalesce(r.started_at, now()), updated_at = now()
    FROM admitted p
    WHERE r.id = p.id
    RETURNING p.ord, r.id, r.locked_by, r.workflow_type, r.attempt, r.lease_epoch, r.lease_token, r.claims, r.deadline_at,
              r.correlation_id, r.trace_id, r.traceparent, extract(epoch FROM now() - r.available_at)::float8 AS waited_s
  ), touched AS (
    UPDATE workers k SET updated_at = now()
    WHERE k.id IN (SELECT p.worker_id FROM admitted p)
  ), ${flow ? `${FLOW_WRITES}, ` : ''}outcome AS (
    SELECT (SELECT count(*) FROM matched) > (SELECT count(*) FROM pairs)
             OR (SELECT count(*) FROM pairs) > (SELECT count(*) FROM admitted)
             OR (SELECT count(*) FROM second_pass)
                > (SELECT count(*) FROM matched m WHERE m.ord NOT IN (SELECT f.ord FROM full_steps f)) AS retry,
           ${
             flow
               ? `CASE WHEN (SELECT count(*) FROM first_pass) < (SELECT count(*) FROM full_steps) THEN NOT ${KEYED_LEFT}
                       ELSE false END AS exhausted,
                  (SELECT t.in_ms FROM throttle t) AS throttled_ms,
                  (SELECT l.yes FROM limited l) OR ${KEYED_LEFT} AS flow`
               : `(SELECT count(*) FROM first_pass) < (SELECT count(*) FROM full_steps) AS exhausted,
                  NULL::float8 AS throttled_ms,
                  (SELECT l.yes FROM limited l) AS flow`
           }
  )
  SELECT o.retry, o.exhausted, o.throttled_ms, o.flow, c.*, pl.input, pl.input_encoding
  FROM outcome o
  LEFT JOIN claimed c ON true
  LEFT JOIN workflow_payloads pl ON pl.run_id = c.id`;

/**
 * The claim of a queue without flow control in play: claim order by priority,
 * no key or rate-limit work. It claims nothing at all when it meets a run
 * with a concurrency key or a rate limit of the queue or an asked type
 * (`flow`): claimBatch then runs CLAIM_BATCH_FLOW.
 */
export const CLAIM_BATCH = claimBatchSql(false);

/** The claim with every flow-control guard (flow-control.ts); `flow`: they were in play. */
export const CLAIM_BATCH_FLOW = claimBatchSql(true);

/**
 * PENDING | due SLEEPING → RUNNING (undelivered, short lease) for a batch of
 * waiting polls. `flow`: the queue had flow control in play at its last claim
 * (see ClaimBatchResult.flow), so the flow statement is run at once; the
 * plain one falls back to it when it meets flow control.
 */
export async function claimBatch(
  q: Querier,
  namespace: string,
  queue: string,
  waiters: ClaimWaiter[],
  workflowTypes: string[],
  ackTimeoutMs: number,
  flow = false,
): Promise<ClaimBatchResult> {
  const types = [...new Set(workflowTypes)];
  if (waiters.length === 0 || types.length === 0) {
    return { runs: [], retry: false, exhausted: false, throttledMs: null, flow };
  }
  const params = [namespace, queue, waiters.map((w) => w.workerId), types, ackTimeoutMs];
  let rows = await q.rows(flow ? CLAIM_BATCH_FLOW : CLAIM_BATCH, params);
  if (!flow && rows[0]!.flow === true) rows = await q.rows(CLAIM_BATCH_FLOW, params);
  const first = rows[0]!;
  return {
    retry: first.retry === true,
    exhausted: first.exhausted === true,
    throttledMs: first.throttled_ms === null ? null : Math.max(0, Number(first.throttled_ms)),
    flow: first.flow === true,
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
