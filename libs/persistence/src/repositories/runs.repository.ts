import { BatonError, ErrorCode, GROUP_COMMIT, RunStatus, checkRunsPageToken } from '@baton/contracts';
import type { RunView } from '@baton/contracts';
import type { Row, Sql } from '../sql';
import { GroupCommit } from '../group-commit';
import { decodeCursor, encodeCursor, toRunView } from '../rows';
import type { Page } from '../rows';
import {
  LIVE_STATUSES,
  TERMINAL_STATUSES,
  cancelRun,
  cancelWithChildren,
  startRun,
  startRuns,
  startRunsClaimed,
} from '../transitions';
import type { ClaimedRun, CreateRunCommand } from '../transitions';

export interface ListRunsFilter {
  status?: RunStatus;
  workflowType?: string;
  queue?: string;
  /** The children of this run (ctx.child). */
  parentRunId?: string;
  externalId?: string;
  correlationId?: string;
  /** Created at or after this time. */
  createdAfter?: Date;
  /** Created before this time. */
  createdBefore?: Date;
}

/** `workerId`: the worker that held the run when it was cancelled (it was RUNNING), else null. */
export interface CancelledRun {
  run: RunView;
  workerId: string | null;
}

/**
 * `descendants`: the runs cancelled with it (children started with
 * cancelWithParent, recursively). `parentQueue`: the queue of the parent the
 * cancel woke, when the run is itself a child.
 */
export type CancelOutcome =
  | (CancelledRun & { cancelled: true; descendants: CancelledRun[]; parentQueue: string | null })
  | { cancelled: false; run: RunView };

const cancelledRun = (row: Row): CancelledRun => ({ run: toRunView(row), workerId: row.cancelled_worker ?? null });

const RUN_WITH_PAYLOAD = `
  SELECT r.*, p.input, p.input_encoding, p.output, p.output_encoding
  FROM workflow_runs r LEFT JOIN workflow_payloads p ON p.run_id = r.id`;

/** Runs as the public API sees them: start, read, list, cancel, delete. */
export class RunsRepository {
  /** Concurrent starts share one statement and one commit (a start alone runs START_RUN at once). */
  private readonly starts: GroupCommit<CreateRunCommand, Row | null>;

  constructor(private readonly sql: Sql) {
    this.starts = new GroupCommit({
      run: async (cmds) => (cmds.length === 1 ? [await startRun(sql, cmds[0]!)] : startRuns(sql, cmds)),
      maxItems: GROUP_COMMIT.maxItems,
      maxBytes: GROUP_COMMIT.maxBytes,
      bytes: (cmd) => cmd.input?.data.length ?? 0,
    });
  }

  /** Starts a run; with an external id held by a live run, returns that run and `created: false`. */
  async create(cmd: CreateRunCommand): Promise<{ run: RunView; created: boolean }> {
    const outcome = await this.insertOrFindLive(cmd, () => this.starts.submit(cmd));
    return 'inserted' in outcome
      ? { run: toRunView(outcome.inserted), created: true }
      : { run: outcome.existing, created: false };
  }

  /**
   * Starts runs of one namespace, queue and type (none with a concurrency
   * key) for which polls wait (eager dispatch: `places`, a worker id per run
   * the polls can take): in one statement, each inserted already claimed for
   * a place's worker (`claimed`) as far as the workers' limits allow and no
   * older run of the type is claimable, the others PENDING as `create`
   * inserts them. Not group-committed: the runs come as one batch already.
   * Per command its run, or null when a live run holds its external id
   * (`create` finds that run). Rejects only when the statement failed, and
   * then nothing was inserted.
   */
  async createClaimed(
    cmds: readonly CreateRunCommand[],
    places: readonly string[],
    ackTimeoutMs: number,
  ): Promise<Array<{ run: RunView; claimed: ClaimedRun | null } | null>> {
    const started = await startRunsClaimed(this.sql, cmds, places, ackTimeoutMs);
    return started.map((outcome) => outcome && { run: toRunView(outcome.row), claimed: outcome.claimed });
  }

  /** `insert` (null: a live run holds the external id), or else the live run that holds it. */
  private async insertOrFindLive<T>(
    cmd: CreateRunCommand,
    insert: () => Promise<T | null>,
  ): Promise<{ inserted: T } | { existing: RunView }> {
    // The loop covers a race: the holder of the key turns terminal between our
    // insert (conflict) and our read (no live run found). Three rounds suffice.
    for (let round = 0; round < 3; round++) {
      const inserted = await insert();
      if (inserted) return { inserted };
      const existing = await this.sql.rows(
        `${RUN_WITH_PAYLOAD} WHERE r.namespace = $1 AND r.external_id = $2 AND r.status IN (${LIVE_STATUSES})`,
        [cmd.namespace, cmd.externalId],
      );
      if (existing.length === 1) return { existing: toRunView(existing[0]) };
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
    if (filter.parentRunId) add((n) => `parent_run_id = $${n}`, filter.parentRunId);
    if (filter.externalId) add((n) => `external_id = $${n}`, filter.externalId);
    if (filter.correlationId) add((n) => `correlation_id = $${n}`, filter.correlationId);
    if (filter.createdAfter) add((n) => `created_at >= $${n}`, filter.createdAfter);
    if (filter.createdBefore) add((n) => `created_at < $${n}`, filter.createdBefore);
    if (pageToken) {
      // The edge checked it; checked again by the same rule so no caller can hand SQL a forged cursor.
      const cursor = decodeCursor(checkRunsPageToken(pageToken)!, ['t', 'i'])!;
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
   * Recorded in the run's history with `actor` (the API key; null: auth off).
   * Its children started with cancelWithParent go with it, recursively, in
   * the same transaction (see cancelWithChildren).
   */
  async cancel(namespace: string, id: string, actor: string | null = null): Promise<CancelOutcome> {
    const { root, descendants } = await this.sql.transaction((q) =>
      cancelWithChildren(q, namespace, id, (tx) => cancelRun(tx, namespace, id, actor), {
        reason: `parent run ${id} was cancelled`,
        actor,
      }),
    );
    if (root) {
      return {
        cancelled: true,
        ...cancelledRun(root),
        descendants: descendants.map(cancelledRun),
        parentQueue: root.parent_queue ?? null,
      };
    }
    const run = await this.getOrThrow(namespace, id);
    if (run.status === RunStatus.CANCELLED) return { cancelled: false, run };
    throw BatonError.precondition(`workflow run ${id} is already ${run.status} and cannot be cancelled`);
  }

  /** Deletes a terminal run with its payload and steps (cascade). Live runs must be cancelled first. */
  async delete(namespace: string, id: string): Promise<void> {
    const rows = await this.sql.rows(
      `DELETE FROM workflow_runs WHERE id = $1 AND namespace = $2 AND status IN (${TERMINAL_STATUSES}) RETURNING id`,
      [id, namespace],
    );
    if (rows.length === 1) return;
    const run = await this.getOrThrow(namespace, id);
    throw BatonError.precondition(`workflow run ${id} is ${run.status}; cancel it before deleting`);
  }
}
