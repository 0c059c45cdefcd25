import type { Row } from '../sql';

/** A run a background transition moved: where to ring the doorbell, or whom to tell it finished. */
export interface MovedRun {
  id: string;
  namespace: string;
  queue: string;
  status: 'PENDING' | 'FAILED';
}

export function movedRun(row: Row): MovedRun {
  return { id: row.id, namespace: row.namespace, queue: row.task_queue, status: row.status };
}
