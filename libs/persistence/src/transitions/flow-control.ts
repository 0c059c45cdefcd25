import type { CreateRunCommand } from './start-run';
import { CLAIMABLE_STATUSES, ms } from './fragments';

/*
 * Flow control, enforced by the claim statement (CLAIM_BATCH in claim.ts)
 * whatever the SDK asks: run priority, concurrency keys and rate limits. The
 * pieces below are that statement's CTEs, written once; migration
 * 1767200000000-flow-control.ts explains the tables and triggers.
 *
 * Priority: claimable runs are taken in (priority DESC, available_at, id)
 * order. Runs of priority 0 (the default) are read from
 * workflow_runs_claimable exactly as before; the few with another priority
 * from workflow_runs_claim_priority, before (> 0) and after (< 0) them. The
 * three ordered scans are one Append under one LIMIT, executed lazily, so a
 * claim locks only the runs it keeps and a queue without prioritized runs
 * pays one descent into an empty index range.
 *
 * Concurrency keys: at most `concurrency_limit` RUNNING runs per (namespace,
 * key). The candidate scan skips runs whose key looks full in the statement's
 * snapshot (a guess, stale either way), so a full key never
 * starves the others. That guess is not the guard: a claim then locks the
 * slot rows of the keys it is about to take (FOR UPDATE: the newest version,
 * after any wait), folds their pending exits (DELETE ... RETURNING: only the
 * deltas this statement removed count, never one another claim folded), and
 * admits per key only as many runs, oldest first, as the newest count leaves
 * room for. Two claims on two matching replicas thus serialise on the key and
 * the second sees what the first took. A key never claimed before has no row
 * yet: the claim inserts it (ON CONFLICT DO NOTHING) and, if the insert is
 * its own, holds it with a count of 0. Runs held back this way make the
 * statement ask for another round (`retry`), whose snapshot sees the key full.
 * Locks are taken in one order everywhere: rate limit rows, then the owners'
 * worker rows, then slot rows by key; exits never lock a slot row (they
 * append a delta), so nothing waits on a claim while holding what it needs.
 *
 * Rate limits: a claim locks the rate limit rows of its queue and asked types
 * first (FOR UPDATE, newest version), keeps the times of the claims inside
 * each window, and lets a limit's runs be claimed only while fewer than its
 * max_claims fall inside the period: the queue's limit bounds the LIMIT of
 * the scan, a type at its limit is skipped, a type with some room admits only
 * that many. Each claim appends its time (now(), as the runs' started_at) once
 * per run it took. When a limit is full, `throttled_ms` says in how many ms
 * (database clock) its next claim frees, and matching arms the queue's timer
 * for then instead of claiming again meanwhile.
 */

/** The flow-control columns of workflow_runs, in the order every start statement writes them. */
export const FLOW_COLUMNS = 'priority, concurrency_key, concurrency_limit';

/** FLOW_COLUMNS for a run started without flow control. */
export const FLOW_DEFAULTS = '0, NULL::text, NULL::int';

/** FLOW_COLUMNS from parameters $n..$n+2 (flowParams). */
export const flowValues = (n: number) => `$${n}::int, $${n + 1}::text, $${n + 2}::int`;

/** A start's flow-control parameters, in FLOW_COLUMNS order. */
export function flowParams(cmd: CreateRunCommand): unknown[] {
  return [cmd.priority ?? 0, cmd.concurrency?.key ?? null, cmd.concurrency?.limit ?? null];
}

/** FLOW_COLUMNS of many starts, one array per column (START_RUNS). */
export function flowColumns(cmds: readonly CreateRunCommand[]): unknown[] {
  return [
    cmds.map((c) => c.priority ?? 0),
    cmds.map((c) => c.concurrency?.key ?? null),
    cmds.map((c) => c.concurrency?.limit ?? null),
  ];
}

/** Most runs a claim may take when no queue rate limit caps it (any batch is far below). */
const NO_CAP = 2_147_483_647;

/**
 * CTEs `rate_rows` (locked), `rate` (scope, name, max_claims, period_ms,
 * recent: the claim times inside the window, oldest first, room), `budget`
 * (take: most runs this statement may claim) and `open_types` (the asked
 * types not at their limit) over $1 namespace, $2 queue, $4 types, after
 * WORKER_ROOM_GUARD. The scans filter on open_types rather than "not one of
 * the full types": the planner reads an unknown exclusion list as excluding
 * nearly every row and would trade the ordered index scan for a full sort.
 */
export const RATE_ROOM = `
  rate_rows AS (
    SELECT l.scope, l.name, l.max_claims, l.period_ms, l.recent
    FROM rate_limits l
    WHERE l.namespace = $1
      AND ((l.scope = 'queue' AND l.name = $2) OR (l.scope = 'workflow_type' AND l.name = ANY ($4::text[])))
    ORDER BY l.scope, l.name
    FOR UPDATE
  ), rate AS (
    SELECT l.scope, l.name, l.max_claims, l.period_ms, w.recent, l.max_claims - cardinality(w.recent) AS room
    FROM rate_rows l
    CROSS JOIN LATERAL (
      SELECT ARRAY(SELECT t FROM unnest(l.recent) AS t WHERE t > now() - ${ms('l.period_ms')} ORDER BY t) AS recent
    ) w
  ), budget AS (
    SELECT least((SELECT count(*) FROM full_steps),
                 coalesce((SELECT greatest(r.room, 0) FROM rate r WHERE r.scope = 'queue'), ${NO_CAP})) AS take
  ), open_types AS (
    SELECT ARRAY(
      SELECT t FROM unnest($4::text[]) AS t
      WHERE NOT EXISTS (SELECT 1 FROM rate r WHERE r.scope = 'workflow_type' AND r.name = t AND r.room <= 0)
    ) AS types
  )`;

/**
 * CTE `rate` of the plain claim (no flow control in play): whether a rate
 * limit covers the queue or an asked type. Not locked: finding one, the plain
 * claim takes nothing and the flow claim runs (a limit set meanwhile applies
 * from the next claim on).
 */
export const RATE_PROBE = `
  rate AS (
    SELECT 1 FROM rate_limits l
    WHERE l.namespace = $1
      AND ((l.scope = 'queue' AND l.name = $2) OR (l.scope = 'workflow_type' AND l.name = ANY ($4::text[])))
    LIMIT 1
  )`;

/**
 * `limited` and `admitted` of the plain claim: every fresh pair, unless a
 * rate limit or a run with a concurrency key is in play; then none (the flow
 * claim runs instead, so neither is ever bypassed).
 */
export const PLAIN_ADMISSION = `
  limited AS (
    SELECT EXISTS (SELECT FROM rate) OR EXISTS (SELECT FROM matched m WHERE m.concurrency_key IS NOT NULL) AS yes
  ), admitted AS (
    SELECT p.* FROM pairs p WHERE NOT (SELECT l.yes FROM limited l)
  )`;

/**
 * How many RUNNING runs of key `key` this statement's snapshot sees: the slot
 * row plus its unfolded exits (two index probes, made only for runs with a key).
 */
const snapshotRunning = (key: string) => `coalesce((
  SELECT s.running + coalesce((SELECT sum(d.delta) FROM concurrency_slot_deltas d
                               WHERE d.namespace = s.namespace AND d.key = s.key), 0)
  FROM concurrency_slots s WHERE s.namespace = $1 AND s.key = ${key}), 0)`;

/**
 * The candidate filter of every scan. With flow control: of an asked type
 * not at its rate limit, not of a key that looks full; without: of an asked type.
 */
const candidate = (flow: boolean) => `
  r.namespace = $1 AND r.task_queue = $2 AND r.status IN (${CLAIMABLE_STATUSES}) AND r.available_at <= now()
  AND ${
    flow
      ? `r.workflow_type = ANY ((SELECT o.types FROM open_types o)::text[])
         AND (r.concurrency_key IS NULL OR r.concurrency_limit > ${snapshotRunning('r.concurrency_key')})`
      : 'r.workflow_type = ANY ($4::text[])'
  }`;

/** The columns a claim carries from candidate to admission. */
const CANDIDATE_COLUMNS = 'r.id, r.workflow_type, r.priority, r.available_at, r.concurrency_key, r.concurrency_limit';

/**
 * The oldest claimable runs in claim order (priority DESC, available_at, id),
 * at most `limit`, locked SKIP LOCKED; `where` narrows them further, `flow`
 * adds the flow-control filter. See the header for why three scans: each is
 * served by its index in that order.
 */
export function claimOrder(flow: boolean, where: string, limit: string): string {
  const scan = (priority: string, order: string) => `
    SELECT * FROM (
      SELECT ${CANDIDATE_COLUMNS} FROM workflow_runs r
      WHERE ${candidate(flow)} AND ${where} AND ${priority}
      ORDER BY ${order}
      LIMIT ${limit}
      FOR UPDATE OF r SKIP LOCKED
    ) c`;
  return `
    ${scan('r.priority > 0', 'r.priority DESC, r.available_at, r.id')}
    UNION ALL
    ${scan('r.priority = 0', 'r.available_at, r.id')}
    UNION ALL
    ${scan('r.priority < 0', 'r.priority DESC, r.available_at, r.id')}
    LIMIT ${limit}`;
}

/**
 * After `pairs` (matched runs whose owners are fresh, with CANDIDATE_COLUMNS):
 * CTEs `wanted` (their keys), `slots` (the keys' rows, locked in key order),
 * `created` (rows this claim inserted for keys that had none), `folded` (the
 * exits it folded), `key_room` (each key's newest RUNNING count) and
 * `admitted`: the pairs every limit lets through, oldest first per key, per
 * type and in all. Without keys or rate limits `admitted` is `pairs` as it is.
 */
export const ADMISSION = `
  wanted AS (
    SELECT DISTINCT p.concurrency_key AS key FROM pairs p WHERE p.concurrency_key IS NOT NULL
  ), slots AS (
    SELECT s.key, s.running
    FROM (SELECT w.key FROM wanted w ORDER BY w.key) w
    CROSS JOIN LATERAL (
      SELECT s.key, s.running FROM concurrency_slots s WHERE s.namespace = $1 AND s.key = w.key FOR UPDATE
    ) s
  ), created AS (
    INSERT INTO concurrency_slots (namespace, key)
    SELECT $1, w.key FROM wanted w WHERE w.key NOT IN (SELECT s.key FROM slots s) ORDER BY w.key
    ON CONFLICT DO NOTHING
    RETURNING key
  ), folded AS (
    DELETE FROM concurrency_slot_deltas d USING slots s
    WHERE d.namespace = $1 AND d.key = s.key
    RETURNING d.key, d.delta
  ), key_room AS (
    SELECT s.key, s.running + coalesce((SELECT sum(f.delta) FROM folded f WHERE f.key = s.key), 0) AS running
    FROM slots s
    UNION ALL
    SELECT c.key, 0 FROM created c
  ), limited AS (
    SELECT EXISTS (SELECT FROM rate) OR EXISTS (SELECT FROM matched m WHERE m.concurrency_key IS NOT NULL) AS yes
  ), admitted AS (
    SELECT p.* FROM pairs p WHERE NOT (SELECT l.yes FROM limited l)
    UNION ALL
    SELECT p.ord, p.id, p.worker_id, p.workflow_type, p.priority, p.available_at, p.concurrency_key, p.concurrency_limit
    FROM (
      SELECT p.*,
             row_number() OVER (PARTITION BY p.concurrency_key ORDER BY p.priority DESC, p.available_at, p.id) AS key_nth,
             row_number() OVER (PARTITION BY p.workflow_type ORDER BY p.priority DESC, p.available_at, p.id) AS type_nth,
             row_number() OVER (ORDER BY p.priority DESC, p.available_at, p.id) AS nth
      FROM pairs p
      WHERE (SELECT l.yes FROM limited l)
    ) p
    LEFT JOIN key_room k ON k.key = p.concurrency_key
    LEFT JOIN rate t ON t.scope = 'workflow_type' AND t.name = p.workflow_type
    WHERE (p.concurrency_key IS NULL OR p.key_nth <= p.concurrency_limit - k.running)
      AND (t.room IS NULL OR p.type_nth <= t.room)
      AND p.nth <= coalesce((SELECT r.room FROM rate r WHERE r.scope = 'queue'), ${NO_CAP})
  )`;

/**
 * After `claimed` (RETURNING workflow_type): CTEs `slots_folded` (the folded
 * exits written into their rows; each run that entered RUNNING counts itself
 * by trigger), `rate_used` (each limit's window with one entry per run it
 * took) and `throttle` (in how many ms the earliest full limit frees a claim).
 */
export const FLOW_WRITES = `
  slots_folded AS (
    UPDATE concurrency_slots s SET running = s.running + f.delta
    FROM (SELECT f.key, sum(f.delta)::int AS delta FROM folded f GROUP BY f.key) f
    WHERE s.namespace = $1 AND s.key = f.key
  ), rate_use AS (
    SELECT r.*, u.n, r.recent || array_fill(now(), ARRAY[u.n]) AS window_times
    FROM rate r
    CROSS JOIN LATERAL (
      SELECT count(*)::int AS n FROM claimed c WHERE r.scope = 'queue' OR c.workflow_type = r.name
    ) u
  ), rate_used AS (
    UPDATE rate_limits l SET recent = u.window_times, updated_at = now()
    FROM rate_use u
    WHERE l.namespace = $1 AND l.scope = u.scope AND l.name = u.name AND u.n > 0
  ), throttle AS (
    SELECT min(extract(epoch FROM u.window_times[cardinality(u.window_times) - u.max_claims + 1]
                                  + ${ms('u.period_ms')} - now()) * 1000)::float8 AS in_ms
    FROM rate_use u
    WHERE cardinality(u.window_times) >= u.max_claims
  )`;

/**
 * Whether claimable runs with a concurrency key were left behind (their key
 * looked full, or another claim held them): the queue is then not "empty"
 * for these types, since a slot may free without anything ringing it
 * (workflow_runs_claim_keyed; read only when the scan came up short).
 */
export const KEYED_LEFT = `
  EXISTS (SELECT 1 FROM workflow_runs r
          WHERE r.namespace = $1 AND r.task_queue = $2 AND r.status IN (${CLAIMABLE_STATUSES})
            AND r.available_at <= now() AND r.concurrency_key IS NOT NULL AND r.workflow_type = ANY ($4::text[])
            AND r.id NOT IN (SELECT p.id FROM first_pass p))`;
