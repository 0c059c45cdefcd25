import { BatonError, ErrorCode, ErrorReason, RunStatus, checkHistoryPageToken } from '@baton/contracts';
import type { RunHistoryAction, RunHistoryView, RunView } from '@baton/contracts';
import type { Querier, Row, Sql } from '../sql';
import { toRunView } from '../rows';
import type { Page } from '../rows';
import { LIVE_STATUSES, cancelWithChildren, resetRun, retryFailedRun, terminateRun } from '../transitions';
import type { ResetCommand } from '../transitions';

/** A run an action ended or took back; `workerId`: the worker that held it (it was RUNNING), else null. */
export interface StoppedRun {
  run: RunView;
  workerId: string | null;
}

/**
 * `descendants`: the children (started with cancelWithParent, recursively)
 * cancelled with the terminated run. `parentQueue`: the queue of the parent
 * the run's end woke, when the run is itself a child.
 */
export type TerminateOutcome =
  | (StoppedRun & { terminated: true; descendants: StoppedRun[]; parentQueue: string | null })
  | { terminated: false; run: RunView };

const stoppedRun = (row: Row): StoppedRun => ({
  run: toRunView(row),
  workerId: row.held_by ?? row.cancelled_worker ?? null,
});

export type ResetOutcome = StoppedRun;

/** The unique index that keeps external ids unique among live runs. */
const EXTERNAL_ID_INDEX = 'workflow_runs_external_id';

/** PostgreSQL's unique_violation. */
const UNIQUE_VIOLATION = '23505';

const isExternalIdConflict = (err: unknown): boolean => {
  const e = err as { code?: string; constraint?: string } | null;
  return e?.code === UNIQUE_VIOLATION && e.constraint === EXTERNAL_ID_INDEX;
};

/** A run's history, oldest first, keyset on id; `r` proves the run is in the namespace. */
const HISTORY_PAGE = `
  SELECT h.id::text AS id, h.run_id, h.at, h.action, h.actor, h.reason, h.detail
  FROM run_history h JOIN workflow_runs r ON r.id = h.run_id
  WHERE h.run_id = $1 AND r.namespace = $2 AND h.id > $3::bigint
  ORDER BY h.id LIMIT $4`;

function toHistoryView(row: Row): RunHistoryView {
  return {
    id: row.id,
    runId: row.run_id,
    at: row.at,
    action: row.action as RunHistoryAction,
    actor: row.actor ?? null,
    reason: row.reason ?? null,
    detail: Object.fromEntries(Object.entries(row.detail ?? {}).map(([k, v]) => [k, String(v)])),
  };
}

/**
 * Operator actions on runs (terminate, retry, reset) and the history every
 * API action on a run leaves. Each action is one transition (see
 * ../transitions); this says why one did not happen.
 */
export class OperatorRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * PENDING/SLEEPING/RUNNING → TERMINATED, with the run's children as a
   * cancel takes them (cancelWithChildren), in one transaction. Already
   * TERMINATED is success (`terminated: false`, no second entry); any other
   * terminal status is FAILED_PRECONDITION.
   */
  async terminate(namespace: string, id: string, reason: string, actor: string | null): Promise<TerminateOutcome> {
    const { root, descendants } = await this.sql.transaction((q) =>
      cancelWithChildren(q, namespace, id, (tx) => terminateRun(tx, namespace, id, reason, actor), {
        reason: `parent run ${id} was terminated: ${reason}`,
        actor,
      }),
    );
    if (root) {
      return {
        terminated: true,
        ...stoppedRun(root),
        descendants: descendants.map(stoppedRun),
        parentQueue: root.parent_queue ?? null,
      };
    }
    const run = await this.getOrThrow(this.sql, namespace, id);
    if (run.status === RunStatus.TERMINATED) return { terminated: false, run };
    throw BatonError.precondition(
      `workflow run ${id} is already ${run.status}; only a PENDING, SLEEPING or RUNNING run can be terminated`,
      ErrorReason.RUN_TERMINAL,
    );
  }

  /** FAILED → PENDING from where it failed. Any other status is FAILED_PRECONDITION. */
  async retry(namespace: string, id: string, actor: string | null, reason: string | null): Promise<RunView> {
    let row: Row | null;
    try {
      row = await retryFailedRun(this.sql, namespace, id, actor, reason);
    } catch (err) {
      if (!isExternalIdConflict(err)) throw err;
      row = null;
    }
    if (row) return toRunView(row);
    const run = await this.getOrThrow(this.sql, namespace, id);
    if (run.status !== RunStatus.FAILED) {
      throw BatonError.precondition(
        `workflow run ${id} is ${run.status}; only a FAILED run can be retried (reset sends any run back to a step)`,
      );
    }
    throw await this.externalIdTaken(run, 'retried');
  }

  /** Any run → PENDING, from before step `stepId` (INVALID_ARGUMENT naming stepId if the run has none). */
  async reset(cmd: ResetCommand): Promise<ResetOutcome> {
    let outcome: Awaited<ReturnType<typeof resetRun>>;
    try {
      outcome = await resetRun(this.sql, cmd);
    } catch (err) {
      if (!isExternalIdConflict(err)) throw err;
      outcome = { refused: 'externalIdTaken' };
    }
    if ('reset' in outcome) return { run: toRunView(outcome.reset), workerId: outcome.heldBy };
    if (outcome.refused === 'missing') throw BatonError.notFound(`workflow run ${cmd.runId}`);
    if (outcome.refused === 'unknownStep') {
      throw BatonError.invalid('stepId', `stepId "${cmd.stepId}" is not a recorded step of workflow run ${cmd.runId}`);
    }
    throw await this.externalIdTaken(await this.getOrThrow(this.sql, cmd.namespace, cmd.runId), 'reset');
  }

  /** The run's history, oldest first; NOT_FOUND for a run not in the namespace. */
  async history(
    namespace: string,
    runId: string,
    pageSize: number,
    pageToken: string | null,
  ): Promise<Page<RunHistoryView>> {
    // The edge checked it; checked again so that no caller can hand SQL a forged cursor.
    const after = checkHistoryPageToken(pageToken) ?? '0';
    const rows = await this.sql.rows(HISTORY_PAGE, [runId, namespace, after, pageSize + 1]);
    if (rows.length === 0) await this.getOrThrow(this.sql, namespace, runId);
    const more = rows.length > pageSize;
    const page = more ? rows.slice(0, pageSize) : rows;
    return { items: page.map(toHistoryView), nextPageToken: more ? page[page.length - 1]!.id : null };
  }

  /** ALREADY_EXISTS naming the live run that holds `run`'s external id (the index allows one). */
  private async externalIdTaken(run: RunView, action: string): Promise<BatonError> {
    const [holder] = await this.sql.rows(
      `SELECT id FROM workflow_runs WHERE namespace = $1 AND external_id = $2 AND status IN (${LIVE_STATUSES}) AND id <> $3`,
      [run.namespace, run.externalId, run.id],
    );
    return new BatonError(
      ErrorCode.ALREADY_EXISTS,
      `workflow run ${run.id} cannot be ${action}: its externalId "${run.externalId}" is held by live run ` +
        `${holder?.id ?? '(one that has just finished; try again)'}`,
      { field: 'externalId' },
    );
  }

  private async getOrThrow(q: Querier, namespace: string, id: string): Promise<RunView> {
    const [row] = await q.rows(
      `SELECT r.*, p.input, p.input_encoding, p.output, p.output_encoding
       FROM workflow_runs r LEFT JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1 AND r.namespace = $2`,
      [id, namespace],
    );
    if (!row) throw BatonError.notFound(`workflow run ${id}`);
    return toRunView(row);
  }
}
