import type { Row } from '../sql';
import { finishedRun } from './finished';
import type { FinishedRun } from './finished';

/** A run a background transition moved: where to ring the doorbell, or whom to tell it finished. */
export interface MovedRun {
  id: string;
  namespace: string;
  queue: string;
  status: 'PENDING' | 'FAILED';
  /** When a PENDING run becomes claimable, for transitions that return it (a recovery parks it for its backoff). */
  availableAt?: Date;
  /** The run as it finished, when the move made it terminal (metrics, lifecycle logs). */
  finished?: FinishedRun;
  /** How late the move served the run's due time (wake time, deadline), in seconds by the database's clock. */
  lateS?: number;
  /** For recoveries: whether its worker had acknowledged the claim (false: an undelivered claim, freed at no cost). */
  delivered?: boolean;
  /** A child run that finished: its parent's queue, rung since the finish woke the parent. */
  parentQueue?: string | null;
}

export function movedRun(row: Row): MovedRun {
  const moved: MovedRun = { id: row.id, namespace: row.namespace, queue: row.task_queue, status: row.status };
  if (row.available_at) moved.availableAt = row.available_at;
  if (row.status === 'FAILED' && row.duration_s != null) moved.finished = finishedRun(row);
  if (row.late_s != null) moved.lateS = Number(row.late_s);
  if (row.was_delivered != null) moved.delivered = row.was_delivered === true;
  if (row.parent_queue != null) moved.parentQueue = row.parent_queue;
  return moved;
}
