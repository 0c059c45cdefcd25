import { BatonError, ErrorCode, RunStatus, isUuid, uuidv7 } from '@baton/contracts';
import type { Payload, RetryPolicy, RunView } from '@baton/contracts';
import type { Sql } from '../sql';
import { decodeCursor, encodeCursor, toRunView } from '../rows';
import type { Page } from '../rows';

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

export interface ListRunsFilter {
  status?: RunStatus;
  workflowType?: string;
  queue?: string;
}

export type CancelOutcome = { cancelled: true; run: RunView } | { cancelled: false; run: RunView };

const RUN_WITH_PAYLOAD = `
  SELECT r.*, p.input, p.input_encoding, p.output, p.output_encoding
  FROM workflow_runs r LEFT JOIN workflow_payloads p ON p.run_id = r.id`;

// Insert the run and its payload in one statement. A conflict on the
// external-id index (a live run holds the key) inserts nothing.
const INSERT_RUN = `
  WITH run AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, retry_policy,
                               deadline_at, correlation_id, trace_id)
    VALUES ($1, $2, $3, $4, 'PENDING', $5, $6,
            CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + $7::bigint * interval '1 millisecond' END, $8, $9)
    ON CONFLICT (namespace, external_id) WHERE external_id IS NOT NULL AND status IN ('PENDING','RUNNING','SLEEPING')
    DO NOTHING
    RETURNING *
  ), payload AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT id, $10::bytea, $11 FROM run
    RETURNING input, input_encoding
  )
  SELECT run.*, payload.input, payload.input_encoding, NULL::bytea AS output, NULL::text AS output_encoding
  FROM run, payload`;

const CANCEL = `
  UPDATE workflow_runs
  SET status = 'CANCELLED', finished_at = now(), updated_at = now(),
      locked_by = NULL, locked_until = NULL, wake_up_at = NULL
  WHERE id = $1 AND namespace = $2 AND status IN ('PENDING','RUNNING','SLEEPING')
  RETURNING *`;

/**
 * A list cursor's time, as `created_at::text` wrote it (ISO style, e.g.
 * `2026-01-02 03:04:05.123456+00`), and a real calendar time (no Feb 30).
 */
function isCursorTimestamp(text: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?[+-]\d{2}(?::\d{2}){0,2}$/.exec(text);
  if (!m) return false;
  const [y, mo, d, hh, mm, ss] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, hh, mm, ss));
  return (
    y >= 1 &&
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === hh &&
    date.getUTCMinutes() === mm &&
    date.getUTCSeconds() === ss
  );
}

/** Runs as the public API sees them: start, read, list, cancel, delete. */
export class RunsRepository {
  constructor(private readonly sql: Sql) {}

  /** Starts a run; with an external id held by a live run, returns that run and `created: false`. */
  async create(cmd: CreateRunCommand): Promise<{ run: RunView; created: boolean }> {
    // The loop covers a race: the holder of the key turns terminal between our
    // insert (conflict) and our read (no live run found). Three rounds suffice.
    for (let round = 0; round < 3; round++) {
      const rows = await this.sql.rows(INSERT_RUN, [
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
      if (rows.length === 1) return { run: toRunView(rows[0]), created: true };
      const existing = await this.sql.rows(
        `${RUN_WITH_PAYLOAD} WHERE r.namespace = $1 AND r.external_id = $2 AND r.status IN ('PENDING','RUNNING','SLEEPING')`,
        [cmd.namespace, cmd.externalId],
      );
      if (existing.length === 1) return { run: toRunView(existing[0]), created: false };
    }
    throw new BatonError(ErrorCode.UNAVAILABLE, 'externalId is contended; try again');
  }

  async get(namespace: string, id: string): Promise<RunView | null> {
    const rows = await this.sql.rows(`${RUN_WITH_PAYLOAD} WHERE r.id = $1 AND r.namespace = $2`, [id, namespace]);
    return rows.length ? toRunView(rows[0]) : null;
  }

  async getOrThrow(namespace: string, id: string): Promise<RunView> {
    const run = await this.get(namespace, id);
    if (!run) throw BatonError.notFound(`workflow run ${id}`);
    return run;
  }

  /** Newest first, keyset-paginated on (created_at, id); payloads are not included. */
  async list(
    namespace: string,
    filter: ListRunsFilter,
    pageSize: number,
    pageToken: string | null,
  ): Promise<Page<RunView>> {
    const params: unknown[] = [namespace];
    const where = ['namespace = $1'];
    const add = (clause: (n: number) => string, value: unknown) => {
      params.push(value);
      where.push(clause(params.length));
    };
    if (filter.status) add((n) => `status = $${n}`, filter.status);
    if (filter.workflowType) add((n) => `workflow_type = $${n}`, filter.workflowType);
    if (filter.queue) add((n) => `task_queue = $${n}`, filter.queue);
    if (pageToken) {
      const cursor = decodeCursor(pageToken, ['t', 'i']);
      // Checked here so a forged token is INVALID_ARGUMENT rather than a failed cast in the database.
      if (!cursor || !isUuid(cursor.i) || !isCursorTimestamp(cursor.t)) {
        throw BatonError.invalid('pageToken', 'pageToken is malformed; pass the token a previous page returned');
      }
      params.push(cursor.t, cursor.i);
      where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(pageSize + 1);
    const rows = await this.sql.rows(
      `SELECT *, created_at::text AS created_at_text FROM workflow_runs WHERE ${where.join(' AND ')}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const more = rows.length > pageSize;
    const page = more ? rows.slice(0, pageSize) : rows;
    const last = page[page.length - 1];
    return {
      items: page.map(toRunView),
      nextPageToken: more && last ? encodeCursor({ t: last.created_at_text, i: last.id }) : null,
    };
  }

  /**
   * PENDING/SLEEPING/RUNNING → CANCELLED. Already cancelled is success
   * (`cancelled: false`); COMPLETED or FAILED is FAILED_PRECONDITION.
   */
  async cancel(namespace: string, id: string): Promise<CancelOutcome> {
    const rows = await this.sql.rows(CANCEL, [id, namespace]);
    if (rows.length === 1) return { cancelled: true, run: toRunView(rows[0]) };
    const run = await this.getOrThrow(namespace, id);
    if (run.status === RunStatus.CANCELLED) return { cancelled: false, run };
    throw BatonError.precondition(`workflow run ${id} is already ${run.status} and cannot be cancelled`);
  }

  /** Deletes a terminal run with its payload and steps (cascade). Live runs must be cancelled first. */
  async delete(namespace: string, id: string): Promise<void> {
    const rows = await this.sql.rows(
      `DELETE FROM workflow_runs WHERE id = $1 AND namespace = $2 AND status IN ('COMPLETED','FAILED','CANCELLED') RETURNING id`,
      [id, namespace],
    );
    if (rows.length === 1) return;
    const run = await this.getOrThrow(namespace, id);
    throw BatonError.precondition(`workflow run ${id} is ${run.status}; cancel it before deleting`);
  }
}
