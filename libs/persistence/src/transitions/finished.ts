import type { RunView } from '@baton/contracts';
import type { Row } from '../sql';
import { parentQueueColumn } from './child-runs';

/** A run a transition made terminal, as metrics and lifecycle logs describe it. */
export interface FinishedRun {
  id: string;
  namespace: string;
  queue: string;
  workflowType: string;
  status: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED';
  /** From creation to the terminal state, in seconds, by the database's clock. */
  durationS: number;
  /** A child run's parent's queue: its finish woke the parent, whose queue is rung (null: no parent). */
  parentQueue?: string | null;
  /**
   * The whole run as it finished, payloads included, where the transition
   * returned it (a lone completion): what a read of it would answer now, so
   * that a result waiter can answer without that read.
   */
  run?: RunView;
}

/**
 * What a terminal transition returns of the row `alias` (after its update),
 * for finishedRun: its labels and its duration, computed where both
 * timestamps were written.
 */
export const finishedColumns = (alias: string) =>
  `${alias}.id, ${alias}.namespace, ${alias}.task_queue, ${alias}.workflow_type, ${alias}.status, ${derivedColumns(alias)}`;

/** What finishedRun reads beyond the row's own columns. */
const derivedColumns = (alias: string) =>
  `extract(epoch FROM ${alias}.finished_at - ${alias}.created_at)::float8 AS duration_s, ${parentQueueColumn(alias)}`;

/**
 * finishedColumns and every other column of the row `alias`: with the run's
 * payloads added (`input`, `output` and their encodings), what toRunView
 * reads, as RUN_WITH_PAYLOAD does.
 */
export const finishedRowColumns = (alias: string) => `${alias}.*, ${derivedColumns(alias)}`;

export function finishedRun(row: Row): FinishedRun {
  return {
    id: row.id,
    namespace: row.namespace,
    queue: row.task_queue,
    workflowType: row.workflow_type,
    status: row.status,
    durationS: Number(row.duration_s),
    parentQueue: row.parent_queue ?? null,
  };
}

/** The same from a run's view (a cancel returns the whole row). */
export function finishedRunOf(run: RunView): FinishedRun {
  return {
    id: run.id,
    namespace: run.namespace,
    queue: run.queue,
    workflowType: run.workflowType,
    status: run.status as FinishedRun['status'],
    durationS: ((run.finishedAt?.getTime() ?? Date.now()) - run.createdAt.getTime()) / 1000,
  };
}
