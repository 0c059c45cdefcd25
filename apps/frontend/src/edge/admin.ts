import { BatonError, WorkerStatus, checkName } from '@baton/contracts';
import type { ListWorkersRequest } from '@baton/proto';
import type { Untrusted } from './requests';

/* AdminService requests at the edge, shared by gRPC and HTTP (see requests.ts for the conventions). */

function parseWorkerStatus(value: unknown): WorkerStatus | undefined {
  if (value === undefined || value === '' || value === null) return undefined;
  if (typeof value !== 'string' || !Object.values(WorkerStatus).includes(value as WorkerStatus)) {
    throw BatonError.invalid('status', `status must be one of ${Object.values(WorkerStatus).join(', ')}`);
  }
  return value as WorkerStatus;
}

/** ListWorkers' filter: a queue and a status, each optional (empty is absent). */
export function parseWorkerFilter(raw: Untrusted<ListWorkersRequest>) {
  return {
    queue: raw.queue === undefined || raw.queue === '' ? undefined : checkName(raw.queue, 'queue'),
    status: parseWorkerStatus(raw.status),
  };
}
