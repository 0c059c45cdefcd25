import type { Row } from '../sql';

/** A run a background transition moved: where to ring the doorbell, or whom to tell it finished. */
export interface MovedRun {
  id: string;
  namespace: string;
  queue: string;
  status: 'PENDING' | 'FAILED';
  /** When a PENDING run becomes claimable, for transitions that return it (a recovery parks it for its backoff). */
  availableAt?: Date;
}

export function movedRun(row: Row): MovedRun {
  const moved: MovedRun = { id: row.id, namespace: row.namespace, queue: row.task_queue, status: row.status };
  if (row.available_at) moved.availableAt = row.available_at;
  return moved;
}
