import { z } from 'zod';
import { ALL_NAMESPACES, API_KEYS, FLOW_CONTROL, LIMITS, ROLES } from '@baton/contracts';
import { parseNewApiKey } from '../../auth/api-key-requests';
import { parseWorkerFilter } from '../../edge/admin';
import { parseRateLimitTarget, parseSetRateLimit } from '../../edge/flow-control';
import { parseQueryBoolean } from '../../edge/http-input';
import {
  ApiKeySchema,
  QueueSchema,
  QueueStatsSchema,
  RateLimitSchema,
  ServerInfoSchema,
  WorkerSchema,
} from '../components';
import { keyIdParam, namespaceParam, pageSizeQuery, queueParam, workerIdParam } from '../fields';
import { defineOperation } from '../operation';
import { doc, fieldsOf, givenFieldOf, queryBoolean, queryText, rule } from '../rules';

/* Administration: workers, queues and server facts; API keys; rate limits. */

const N = '/v1/namespaces/{namespace}';
const nsParams = z.strictObject({ namespace: namespaceParam });
const workerParams = z.strictObject({ namespace: namespaceParam, workerId: workerIdParam });

const workerFilter = fieldsOf((raw) => parseWorkerFilter(raw));

export const listWorkers = defineOperation({
  id: 'listWorkers',
  method: 'get',
  path: `${N}/workers`,
  tag: 'workers',
  summary: 'List workers',
  status: 200,
  params: nsParams,
  query: z.strictObject({
    queue: rule(doc.name('Task queue.').optional(), workerFilter('queue'), queryText),
    status: rule(z.enum(['ONLINE', 'DRAINING', 'OFFLINE']).optional(), workerFilter('status'), queryText),
    pageSize: pageSizeQuery(LIMITS.workersPage),
  }),
  response: z.object({ workers: z.array(WorkerSchema) }),
  responseDescription: 'Workers, newest first.',
});

export const getWorker = defineOperation({
  id: 'getWorker',
  method: 'get',
  path: `${N}/workers/{workerId}`,
  tag: 'workers',
  summary: 'Get a worker',
  status: 200,
  params: workerParams,
  response: WorkerSchema,
  responseDescription: 'The worker.',
  errors: [404],
});

export const drainWorker = defineOperation({
  id: 'drainWorker',
  method: 'post',
  path: `${N}/workers/{workerId}/drain`,
  tag: 'workers',
  summary: 'Drain a worker',
  description: 'It finishes the runs it holds and is handed no more.',
  status: 200,
  params: workerParams,
  response: WorkerSchema,
  responseDescription: 'The worker, DRAINING.',
  errors: [404],
});

export const queueStats = defineOperation({
  id: 'queueStats',
  method: 'get',
  path: `${N}/queues/{queue}/stats`,
  tag: 'queues',
  summary: "A queue's backlog",
  status: 200,
  params: z.strictObject({ namespace: namespaceParam, queue: queueParam }),
  response: QueueStatsSchema,
  responseDescription: 'Runs pending, running and sleeping.',
  errors: [404],
});

export const listQueues = defineOperation({
  id: 'listQueues',
  method: 'get',
  path: `${N}/queues`,
  tag: 'queues',
  summary: 'List queues',
  status: 200,
  params: nsParams,
  response: z.object({ queues: z.array(QueueSchema) }),
  responseDescription: 'Every queue of the namespace with its backlog.',
});

export const serverInfo = defineOperation({
  id: 'serverInfo',
  method: 'get',
  path: '/v1/info',
  tag: 'admin',
  summary: 'Server facts',
  status: 200,
  response: ServerInfoSchema,
  responseDescription: 'Version and limits.',
});

/* ---------- API keys (each caller manages the keys within its own namespaces) ---------- */

const newKey = fieldsOf((raw) => parseNewApiKey(raw), { name: 'k', namespaces: [ALL_NAMESPACES], roles: ['client'] });

export const createApiKey = defineOperation({
  id: 'createApiKey',
  method: 'post',
  path: '/v1/admin/keys',
  tag: 'keys',
  summary: 'Create an API key',
  description: 'The secret is shown once, in this answer.',
  status: 201,
  body: z.strictObject({
    name: rule(doc.name('A name to recognise it by.'), newKey('name')),
    namespaces: rule(
      z
        .array(z.string().min(1).max(LIMITS.nameBytes))
        .min(1)
        .max(API_KEYS.maxNamespaces)
        .describe(`Namespaces it may act in ("${ALL_NAMESPACES}": all).`),
      newKey('namespaces'),
    ),
    roles: rule(z.array(z.enum(ROLES)).min(1).max(ROLES.length).describe('What it may do.'), newKey('roles')),
  }),
  example: { name: 'ci', namespaces: ['default'], roles: ['client'] },
  response: z.object({
    key: ApiKeySchema,
    secret: z.string().describe('The key itself: keep it, it is not shown again.'),
  }),
  responseDescription: 'The key and its secret.',
});

export const listApiKeys = defineOperation({
  id: 'listApiKeys',
  method: 'get',
  path: '/v1/admin/keys',
  tag: 'keys',
  summary: 'List API keys',
  status: 200,
  query: z.strictObject({
    includeRevoked: rule(
      z.boolean().optional().describe('Show revoked keys too.'),
      (v) => parseQueryBoolean(v, 'includeRevoked'),
      queryBoolean,
    ),
  }),
  response: z.object({ keys: z.array(ApiKeySchema) }),
  responseDescription: 'The keys within your namespaces.',
});

export const revokeApiKey = defineOperation({
  id: 'revokeApiKey',
  method: 'post',
  path: '/v1/admin/keys/{keyId}/revoke',
  tag: 'keys',
  summary: 'Revoke an API key',
  status: 200,
  params: z.strictObject({ keyId: keyIdParam }),
  response: ApiKeySchema,
  responseDescription: 'The key, revoked.',
  errors: [404],
});

/* ---------- Rate limits ---------- */

const { min: periodMin, max: periodMax } = FLOW_CONTROL.ratePeriodMs;
const setLimit = fieldsOf((raw) => parseSetRateLimit('default', raw), { queue: 'q', limit: 1, periodMs: periodMin });
const setTarget = givenFieldOf((raw) => parseSetRateLimit('default', raw), { limit: 1, periodMs: periodMin });
const target = givenFieldOf((raw) => parseRateLimitTarget('default', raw));
const period = (key: string) =>
  rule(
    z
      .union([z.int().min(periodMin).max(periodMax), z.string()])
      .nullish()
      .describe(`The window: ${periodMin} to ${periodMax} ms, or text such as "2s" (periodMs or period is required).`),
    givenFieldOf((raw) => parseSetRateLimit('default', raw), { queue: 'q', limit: 1 })(key),
  );
const targetDoc = (what: string) => doc.name(`${what} (exactly one of queue and workflowType).`).nullish();

export const setRateLimit = defineOperation({
  id: 'setRateLimit',
  method: 'put',
  path: `${N}/rate-limits`,
  tag: 'rate-limits',
  summary: 'Set a rate limit',
  description: 'At most `limit` claims per period of a queue or a workflow type.',
  status: 200,
  params: nsParams,
  body: z.strictObject({
    queue: rule(targetDoc('The queue it limits'), setTarget('queue')),
    workflowType: rule(targetDoc('The workflow type it limits'), setTarget('workflowType')),
    limit: rule(
      doc.int(FLOW_CONTROL.rateLimit.min, FLOW_CONTROL.rateLimit.max, 'Claims per period.'),
      setLimit('limit'),
    ),
    periodMs: period('periodMs'),
    period: period('period'),
  }),
  example: { queue: 'default', limit: 10, periodMs: 1000 },
  response: RateLimitSchema,
  responseDescription: 'The limit.',
});

export const listRateLimits = defineOperation({
  id: 'listRateLimits',
  method: 'get',
  path: `${N}/rate-limits`,
  tag: 'rate-limits',
  summary: 'List rate limits',
  status: 200,
  params: nsParams,
  response: z.object({ rateLimits: z.array(RateLimitSchema) }),
  responseDescription: "The namespace's limits.",
});

export const deleteRateLimit = defineOperation({
  id: 'deleteRateLimit',
  method: 'delete',
  path: `${N}/rate-limits`,
  tag: 'rate-limits',
  summary: 'Remove a rate limit',
  status: 204,
  params: nsParams,
  query: z.strictObject({
    queue: rule(targetDoc('The queue'), target('queue'), queryText),
    workflowType: rule(targetDoc('The workflow type'), target('workflowType'), queryText),
  }),
  responseDescription: 'Removed (or there was none).',
});

export const ADMIN_OPERATIONS = [
  listWorkers,
  getWorker,
  drainWorker,
  queueStats,
  listQueues,
  serverInfo,
  createApiKey,
  listApiKeys,
  revokeApiKey,
  setRateLimit,
  listRateLimits,
  deleteRateLimit,
];
