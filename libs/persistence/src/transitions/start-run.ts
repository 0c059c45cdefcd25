import { uuidv7 } from '@baton/contracts';
import type { ConcurrencyOption, Payload, RetryPolicy } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { FLOW_COLUMNS, FLOW_DEFAULTS, flowColumns, flowParams, flowValues } from './flow-control';
import { LIVE_STATUSES, ms } from './fragments';

export interface CreateRunCommand {
  namespace: string;
  queue: string;
  workflowType: string;
  input: Payload | null;
  externalId: string | null;
  retryPolicy: RetryPolicy | null;
  timeoutMs: number | null;
  correlationId: string | null;
  /** Shown on the run: the caller's opaque id, else the trace id of `traceparent`. */
  traceId: string | null;
  /** The W3C trace context the run belongs to (canonical version 00), continued by every execution. */
  traceparent?: string | null;
  /** Claimed before runs of lower priority (default 0); see flow-control.ts. */
  priority?: number;
  /** At most `limit` RUNNING runs of the namespace hold `key` at once. */
  concurrency?: ConcurrencyOption | null;
}

// Insert the run and its payload in one statement. A conflict on the
// external-id index (a live run holds the key) inserts nothing. A child run
// (ctx.child) also takes $13 parent run, $14 its CHILD step, $15 cancel with parent.
// Any other run takes its flow control there instead (flowParams); a child has the defaults.
const insertRun = (child: boolean) => `
  WITH run AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, retry_policy,
                               deadline_at, correlation_id, trace_id, traceparent${child ? ', parent_run_id, parent_step_id, cancel_with_parent' : ''},
                               ${FLOW_COLUMNS})
    VALUES ($1, $2, $3, $4, 'PENDING', $5, $6,
            CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + $7::bigint * interval '1 millisecond' END, $8, $9, $12${child ? ', $13::uuid, $14::text, $15::boolean' : ''},
            ${child ? FLOW_DEFAULTS : flowValues(13)})
    ON CONFLICT (namespace, external_id) WHERE external_id IS NOT NULL AND status IN (${LIVE_STATUSES})
    DO NOTHING
    RETURNING *
  ), payload AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT id, $10::bytea, $11 FROM run
    RETURNING input, input_encoding
  )
  SELECT run.*, payload.input, payload.input_encoding, NULL::bytea AS output, NULL::text AS output_encoding
  FROM run, payload`;

export const START_RUN = insertRun(false);
/** START_RUN for a child run: the same insert with its parent's columns (see start-child.ts). */
export const START_CHILD_RUN = insertRun(true);

/** A start's options, input and trace context, in the order START_RUN ($5..$12) takes them. */
export function runOptionParams(cmd: CreateRunCommand): unknown[] {
  return [
    cmd.externalId,
    cmd.retryPolicy,
    cmd.timeoutMs,
    cmd.correlationId,
    cmd.traceId,
    cmd.input?.data ?? null,
    cmd.input?.encoding ?? null,
    cmd.traceparent ?? null,
  ];
}

/** (none) → PENDING. Null when a live run holds the external id. */
export async function startRun(q: Querier, cmd: CreateRunCommand): Promise<Row | null> {
  const [row] = await q.rows(START_RUN, [
    uuidv7(),
    cmd.namespace,
    cmd.queue,
    cmd.workflowType,
    ...runOptionParams(cmd),
    ...flowParams(cmd),
  ]);
  return row ?? null;
}

/**
 * START_RUN for many runs at once (group commit): one statement, one commit.
 * Rows are inserted in (namespace, external id) order, so two batches never
 * wait on each other's keys in opposite orders; within one key, in arrival
 * order, so of two items with the same external id the first is inserted and
 * the other conflicts ("already exists"), as two concurrent starts would.
 */
export const START_RUNS = `
  WITH item AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                         $8::text[], $9::text[], $10::bytea[], $11::text[], $12::text[],
                         $13::int[], $14::text[], $15::int[])
      WITH ORDINALITY AS i(id, namespace, task_queue, workflow_type, external_id, retry_policy, timeout_ms,
                           correlation_id, trace_id, input, input_encoding, traceparent,
                           priority, concurrency_key, concurrency_limit, ord)
  ), run AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, retry_policy,
                               deadline_at, correlation_id, trace_id, traceparent, ${FLOW_COLUMNS})
    SELECT id, namespace, task_queue, workflow_type, 'PENDING', external_id, retry_policy::jsonb,
           CASE WHEN timeout_ms IS NULL THEN NULL ELSE now() + ${ms('timeout_ms')} END, correlation_id, trace_id,
           traceparent, ${FLOW_COLUMNS}
    FROM item ORDER BY namespace, external_id, ord
    ON CONFLICT (namespace, external_id) WHERE external_id IS NOT NULL AND status IN (${LIVE_STATUSES})
    DO NOTHING
    RETURNING *
  ), payload AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT item.id, item.input, item.input_encoding FROM item JOIN run ON run.id = item.id
    RETURNING run_id, input, input_encoding
  )
  SELECT run.*, payload.input, payload.input_encoding, NULL::bytea AS output, NULL::text AS output_encoding
  FROM run JOIN payload ON payload.run_id = run.id`;

/**
 * runOptionParams of many starts, one array per parameter, in the same order
 * (START_RUNS $5..$12, START_RUNS_CLAIMED $7..$14).
 */
export function runOptionColumns(cmds: readonly CreateRunCommand[]): unknown[] {
  const column = <T>(pick: (cmd: CreateRunCommand) => T) => cmds.map(pick);
  return [
    column((c) => c.externalId),
    column((c) => (c.retryPolicy == null ? null : JSON.stringify(c.retryPolicy))),
    column((c) => c.timeoutMs),
    column((c) => c.correlationId),
    column((c) => c.traceId),
    column((c) => c.input?.data ?? null),
    column((c) => c.input?.encoding ?? null),
    column((c) => c.traceparent ?? null),
  ];
}

/** (none) → PENDING for each command; per command its row, or null when a live run holds its external id. */
export async function startRuns(q: Querier, cmds: readonly CreateRunCommand[]): Promise<Array<Row | null>> {
  const ids = cmds.map(() => uuidv7());
  const column = <T>(pick: (cmd: CreateRunCommand) => T) => cmds.map(pick);
  const rows = await q.rows(START_RUNS, [
    ids,
    column((c) => c.namespace),
    column((c) => c.queue),
    column((c) => c.workflowType),
    ...runOptionColumns(cmds),
    ...flowColumns(cmds),
  ]);
  const byId = new Map(rows.map((row) => [row.id as string, row]));
  return ids.map((id) => byId.get(id) ?? null);
}
