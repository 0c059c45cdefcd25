import { ADMIN_OPERATIONS } from './operations/admin';
import { PROBE_OPERATIONS } from './operations/probes';
import { SCHEDULE_OPERATIONS } from './operations/schedules';
import { WORKER_OPERATIONS } from './operations/workers';
import { WORKFLOW_OPERATIONS } from './operations/workflows';
import type { HttpOperation } from './operation';

export { HttpInput, HttpOperation, validateHttpInput, operationOf } from './operation';
export type { HttpRequestInput } from './operation';
export { openApiParts } from './document';
export { COMPONENTS } from './components';

/** Every operation of the HTTP API, each served by one controller method (the probes' in libs/runtime). */
export const HTTP_OPERATIONS: readonly HttpOperation[] = [
  ...WORKFLOW_OPERATIONS,
  ...WORKER_OPERATIONS,
  ...SCHEDULE_OPERATIONS,
  ...ADMIN_OPERATIONS,
  ...PROBE_OPERATIONS,
];
