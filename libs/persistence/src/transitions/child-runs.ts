import { RunHistoryAction } from '@baton/contracts';
import type { Querier, Row } from '../sql';
import { LIVE_STATUSES, UNLOCK } from './fragments';
import { recordHistory } from './history';

/*
 * What the rest of the state machine needs to know about child runs
 * (ctx.child; the start is start-child.ts): whose queue to ring when a child
 * finishes, and the cascade that cancels a run's children with it.
 */

/**
 * The queue of the parent of the run `alias` (null for a run nobody started),
 * as column `parent_queue` of a terminal transition's RETURNING: the child's
 * finish woke that parent (trigger baton_wake_parent), so the caller rings
 * its queue (RunEvents.runFinished). Costs nothing for other runs.
 */
export const parentQueueColumn = (alias: string) =>
  `CASE WHEN ${alias}.parent_run_id IS NULL THEN NULL
        ELSE (SELECT pq.task_queue FROM workflow_runs pq WHERE pq.id = ${alias}.parent_run_id) END AS parent_queue`;

/**
 * The live runs that go when run $1 (namespace $2) is cancelled: its children
 * started with cancelWithParent, theirs likewise, and so on (a child kept on
 * cancel keeps what it started too). `depth` 1 is a child, 2 a grandchild...
 */
const CASCADE = `
  WITH RECURSIVE tree(id, depth) AS (
    SELECT c.id, 1 FROM workflow_runs c
    WHERE c.parent_run_id = $1 AND c.namespace = $2 AND c.cancel_with_parent AND c.status IN (${LIVE_STATUSES})
    UNION ALL
    SELECT c.id, t.depth + 1 FROM workflow_runs c JOIN tree t ON c.parent_run_id = t.id
    WHERE c.cancel_with_parent AND c.status IN (${LIVE_STATUSES})
  )`;

/** The descendants' rows, locked deepest first (why: see cancelWithChildren). */
const LOCKED_DESCENDANTS = `
  SELECT r.id, r.status, r.locked_by FROM workflow_runs r JOIN tree t ON t.id = r.id
  ORDER BY t.depth DESC, r.id
  FOR UPDATE OF r`;

/** Locks the cascade of run $1 before the run itself is touched. */
export const LOCK_DESCENDANTS = `${CASCADE} ${LOCKED_DESCENDANTS}`;

/**
 * The cascade of run $1 → CANCELLED, each with an entry in its history
 * (reason $3, actor $4). `cancelled_worker`: the worker that held it, if it
 * was RUNNING (its feed is pushed), as CANCEL_RUN returns it.
 */
export const CANCEL_DESCENDANTS = `
  ${CASCADE}, prior AS (${LOCKED_DESCENDANTS}
  ), run AS (
    UPDATE workflow_runs r
    SET status = 'CANCELLED', finished_at = now(), updated_at = now(), ${UNLOCK}, wake_up_at = NULL
    FROM prior
    WHERE r.id = prior.id AND r.status IN (${LIVE_STATUSES})
    RETURNING r.*, CASE WHEN prior.status = 'RUNNING' THEN prior.locked_by END AS cancelled_worker,
              prior.status AS prior_status
  ), audit AS (${recordHistory('run', {
    action: RunHistoryAction.CANCELLED,
    actor: '$4::text',
    reason: '$3::text',
    detail: `jsonb_build_object('from', run.prior_status)`,
  })}
  )
  SELECT * FROM run`;

/** Where a run that finished wakes its parent: the parent's queue, null for a run nobody started. */
export async function parentQueueOf(q: Querier, run: Row): Promise<string | null> {
  if (!run.parent_run_id) return null;
  const [parent] = await q.rows(`SELECT task_queue FROM workflow_runs WHERE id = $1`, [run.parent_run_id]);
  return parent?.task_queue ?? null;
}

/** A transition of one run that may end it (cancel, terminate): its row, or null when it did not apply. */
export type RootTransition = (q: Querier) => Promise<Row | null>;

export interface CascadeOutcome {
  /** The run as the transition left it, with `parent_queue`; null when it did not apply. */
  root: Row | null;
  /** The descendants cancelled with it (rows with `cancelled_worker`), none when the root did not apply. */
  descendants: Row[];
}

/**
 * `transition` of run `id` (cancel; terminate may use it too), and, when it
 * applied, the cancel of the run's cascade (children started with
 * cancelWithParent, recursively), in one short transaction:
 *
 *  1. LOCK_DESCENDANTS: the cascade's rows, deepest first. A finishing child
 *     holds its own row and then takes its parent's (the wake trigger), so
 *     locking children before their parents is the order that cannot
 *     deadlock with it.
 *  2. the transition of the run itself.
 *  3. CANCEL_DESCENDANTS, in a snapshot taken after 2: a child the run started
 *     while 1 was under way (its StartChild held the run's row, which 2 waited
 *     for) is cancelled too; once the run is no longer RUNNING it starts none.
 *
 * `reason` is recorded in each descendant's history; `actor` as the root's.
 */
export async function cancelWithChildren(
  q: Querier,
  namespace: string,
  id: string,
  transition: RootTransition,
  history: { reason: string; actor: string | null },
): Promise<CascadeOutcome> {
  await q.rows(LOCK_DESCENDANTS, [id, namespace]);
  const root = await transition(q);
  if (!root) return { root: null, descendants: [] };
  root.parent_queue = await parentQueueOf(q, root);
  const descendants = await q.rows(CANCEL_DESCENDANTS, [id, namespace, history.reason, history.actor]);
  return { root, descendants };
}

/**
 * For a transition that deletes CHILD steps of run `runParam` (a reset to
 * before them), as a CTE over the deleted steps' CTE `stepsCte` (column
 * step_id): their children are let go of those steps (parent_step_id NULL;
 * still listed under the parent and cancelled with it), so that each step,
 * run again, starts a new child instead of finding the old one.
 */
export const detachChildren = (runParam: string, stepsCte: string) => `
  UPDATE workflow_runs c SET parent_step_id = NULL
  WHERE c.parent_run_id = ${runParam} AND c.parent_step_id IN (SELECT step_id FROM ${stepsCte})`;
