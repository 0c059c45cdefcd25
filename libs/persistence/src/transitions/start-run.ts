import { uuidv7 } from '@baton/contracts';
import type { Payload, RetryPolicy } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { LIVE_STATUSES } from './fragments';

export interface CreateRunCommand {
  namespace: string;
  queue: string;
  workflowType: string;
  input: Payload | null;
  externalId: string | null;
  retryPolicy: RetryPolicy | null;
  timeoutMs: number | null;
  correlationId: string | null;
  traceId: string | null;
}

// Insert the run and its payload in one statement. A conflict on the
// external-id index (a live run holds the key) inserts nothing.
export const START_RUN = `
  WITH run AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, retry_policy,
                               deadline_at, correlation_id, trace_id)
    VALUES ($1, $2, $3, $4, 'PENDING', $5, $6,
            CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + $7::bigint * interval '1 millisecond' END, $8, $9)
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

/** (none) → PENDING. Null when a live run holds the external id. */
export async function startRun(q: Querier, cmd: CreateRunCommand): Promise<Row | null> {
  const [row] = await q.rows(START_RUN, [
    uuidv7(),
    cmd.namespace,
    cmd.queue,
    cmd.workflowType,
    cmd.externalId,
    cmd.retryPolicy,
    cmd.timeoutMs,
    cmd.correlationId,
    cmd.traceId,
    cmd.input?.data ?? null,
    cmd.input?.encoding ?? null,
  ]);
  return row ?? null;
}
