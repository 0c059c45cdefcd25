import { z } from 'zod';
import {
  LIMITS,
  OPERATOR_LIMITS,
  RUN_STATUSES,
  SIGNAL_LIMITS,
  FLOW_CONTROL,
  checkHistoryPageToken,
  checkStepsPageToken,
} from '@baton/contracts';
import { parseHistory, parseReset, parseRetry, parseTerminate } from '../../edge/operator';
import { parseList, parsePageSize, parseStart, parseWaitMs } from '../../edge/requests';
import { parseSignal } from '../../edge/signals';
import { HistoryEventSchema, RunSchema, StepSchema } from '../components';
import {
  concurrencyDoc,
  namespaceParam,
  nextPageToken,
  pageSizeQuery,
  pageTokenDoc,
  retryOptionsDoc,
  runParams,
} from '../fields';
import { defineOperation } from '../operation';
import { doc, fieldsOf, payloadFields, queryDuration, queryText, rule } from '../rules';

/* Runs: start, list, read, cancel, delete; operator actions; signals. */

const SOME_RUN = '00000000-0000-0000-0000-000000000000';
const RUNS = '/v1/namespaces/{namespace}/workflows';
const RUN = `${RUNS}/{runId}`;
const TAG = 'workflows';

const start = fieldsOf((raw) => parseStart('default', raw, null), { workflowType: 'w' });
const runTimeout = (key: string) =>
  rule(
    doc
      .duration(LIMITS.maxRunTimeoutMs, 'The run fails with a timeout once this long has passed since its start.', {
        positive: true,
      })
      .nullish(),
    start(key),
  );

export const startRun = defineOperation({
  id: 'startRun',
  method: 'post',
  path: RUNS,
  tag: TAG,
  summary: 'Start a run',
  description:
    'Starts a run of `workflowType` on `queue`; a worker polling that queue runs it. With an `externalId` already ' +
    'used by a run of the namespace, answers that run with `alreadyExists: true`.',
  status: 201,
  params: z.strictObject({ namespace: namespaceParam }),
  body: z.strictObject({
    workflowType: rule(doc.name('Workflow type to run.'), start('workflowType')),
    queue: rule(
      z.string().max(LIMITS.nameBytes).optional().describe('Task queue (default "default"); at most 255 bytes.'),
      start('queue'),
    ),
    ...payloadFields('input', 'The run input.'),
    externalId: rule(
      doc.optionalText('Your id for the run: starting again with it answers the same run.', LIMITS.externalIdBytes),
      start('externalId'),
    ),
    retry: rule(retryOptionsDoc, start('retry')),
    timeoutMs: runTimeout('timeoutMs'),
    timeout: runTimeout('timeout'),
    correlationId: rule(
      doc.optionalText('Correlation id, to find runs by.', LIMITS.correlationIdBytes),
      start('correlationId'),
    ),
    traceId: rule(doc.optionalText('Trace id the run shows.', LIMITS.correlationIdBytes), start('traceId')),
    priority: rule(
      doc.int(FLOW_CONTROL.priority.min, FLOW_CONTROL.priority.max, 'Higher is claimed first (default 0).').nullish(),
      start('priority'),
    ),
    concurrency: rule(concurrencyDoc, start('concurrency')),
  }),
  example: { workflowType: 'greet', queue: 'greetings', input: { name: 'Swagger' } },
  response: z.object({
    run: RunSchema,
    alreadyExists: z.boolean().describe('A run with this externalId existed: it is the one answered.'),
  }),
  responseDescription: 'The run (PENDING until a worker claims it).',
  errors: [404, 409, 413],
});

const list = fieldsOf((raw) => parseList('default', raw));
const listText = (key: string, schema: z.ZodType) => rule(schema, list(key), queryText);

export const listRuns = defineOperation({
  id: 'listRuns',
  method: 'get',
  path: RUNS,
  tag: TAG,
  summary: 'List runs',
  description: 'Newest first, filtered by every parameter given.',
  status: 200,
  params: z.strictObject({ namespace: namespaceParam }),
  query: z.strictObject({
    status: listText('status', z.enum(RUN_STATUSES).optional()),
    workflowType: listText('workflowType', doc.name('Workflow type.').optional()),
    queue: listText('queue', doc.name('Task queue.').optional()),
    pageSize: pageSizeQuery(LIMITS.runsPage, list('pageSize')),
    pageToken: listText('pageToken', pageTokenDoc),
    parentRunId: listText('parentRunId', doc.uuid('Children of this run.').optional()),
    externalId: listText('externalId', z.string().max(LIMITS.externalIdBytes).optional().describe('External id.')),
    correlationId: listText(
      'correlationId',
      z.string().max(LIMITS.correlationIdBytes).optional().describe('Correlation id.'),
    ),
    createdAfter: listText(
      'createdAfter',
      doc.dateTime('Created at or after (ISO 8601; UTC without a zone).').optional(),
    ),
    createdBefore: listText('createdBefore', doc.dateTime('Created before (ISO 8601; UTC without a zone).').optional()),
  }),
  response: z.object({ runs: z.array(RunSchema), nextPageToken }),
  responseDescription: 'A page of runs.',
});

export const getRun = defineOperation({
  id: 'getRun',
  method: 'get',
  path: RUN,
  tag: TAG,
  summary: 'Get a run',
  status: 200,
  params: runParams,
  response: RunSchema,
  responseDescription: 'The run.',
  errors: [404],
});

export const cancelRun = defineOperation({
  id: 'cancelRun',
  method: 'post',
  path: `${RUN}/cancel`,
  tag: TAG,
  summary: 'Cancel a run',
  description: 'A finished run is answered as it is, with `alreadyCancelled` saying whether it was cancelled before.',
  status: 200,
  params: runParams,
  response: z.object({ run: RunSchema, alreadyCancelled: z.boolean() }),
  responseDescription: 'The run, CANCELLED (or as it finished).',
  errors: [404],
});

export const deleteRun = defineOperation({
  id: 'deleteRun',
  method: 'delete',
  path: RUN,
  tag: TAG,
  summary: 'Delete a finished run',
  status: 204,
  params: runParams,
  responseDescription: 'Deleted, with its steps.',
  errors: [404, 409],
});

export const listSteps = defineOperation({
  id: 'listSteps',
  method: 'get',
  path: `${RUN}/steps`,
  tag: TAG,
  summary: "List a run's steps",
  status: 200,
  params: runParams,
  query: z.strictObject({
    pageSize: pageSizeQuery(LIMITS.stepsPage, (v) => parsePageSize(v, LIMITS.stepsPage)),
    pageToken: rule(pageTokenDoc, checkStepsPageToken, queryText),
  }),
  response: z.object({ steps: z.array(StepSchema), nextPageToken }),
  responseDescription: 'A page of steps, in order.',
  errors: [404],
});

const wait = rule(
  doc.duration(LIMITS.maxWaitMs, 'How long to wait for the run to finish (default 30 s).').optional(),
  parseWaitMs,
  queryDuration,
);

export const getResult = defineOperation({
  id: 'getResult',
  method: 'get',
  path: `${RUN}/result`,
  tag: TAG,
  summary: 'Wait for a run to finish',
  description: 'Long poll: answers when the run finishes or after `waitMs`, with `done` saying which.',
  status: 200,
  params: runParams,
  query: z.strictObject({ waitMs: wait, wait }),
  response: z.object({ run: RunSchema, done: z.boolean().describe('The run has finished.') }),
  responseDescription: 'The run, finished or as it stands.',
  errors: [404],
});

/* ---------- Operator actions (roles: admin; history: client) ---------- */

const runRef = { namespace: 'default', runId: SOME_RUN };
const terminate = fieldsOf((raw) => parseTerminate(raw, null), runRef);
const retry = fieldsOf((raw) => parseRetry(raw, null), runRef);
const reset = fieldsOf((raw) => parseReset(raw, null), { ...runRef, stepId: 's' });
const reasonDoc = (what: string) =>
  z.string().max(OPERATOR_LIMITS.reasonBytes).describe(`${what} At most ${OPERATOR_LIMITS.reasonBytes} UTF-8 bytes.`);

export const terminateRun = defineOperation({
  id: 'terminateRun',
  method: 'post',
  path: `${RUN}/terminate`,
  tag: TAG,
  summary: 'Terminate a run',
  description: 'Stops the run at once (TERMINATED), its handler gets no chance to run on.',
  status: 200,
  params: runParams,
  body: z.strictObject({ reason: rule(reasonDoc('Why (required).').min(1), terminate('reason')) }),
  response: z.object({ run: RunSchema, alreadyTerminated: z.boolean() }),
  responseDescription: 'The run, TERMINATED.',
  errors: [404, 409],
});

export const retryRun = defineOperation({
  id: 'retryRun',
  method: 'post',
  path: `${RUN}/retry`,
  tag: TAG,
  summary: 'Retry a failed run',
  description: 'Runs a FAILED, CANCELLED or TERMINATED run again from where it failed: completed steps are kept.',
  status: 200,
  params: runParams,
  body: z.strictObject({ reason: rule(reasonDoc('Why.').nullish(), retry('reason')) }),
  response: z.object({ run: RunSchema }),
  responseDescription: 'The run, PENDING again.',
  errors: [404, 409],
});

export const resetRun = defineOperation({
  id: 'resetRun',
  method: 'post',
  path: `${RUN}/reset`,
  tag: TAG,
  summary: 'Reset a run to a step',
  description: 'Drops `stepId` and every step after it, and runs the run again from there.',
  status: 200,
  params: runParams,
  body: z.strictObject({
    stepId: rule(doc.name('The first step to run again.'), reset('stepId')),
    reason: rule(reasonDoc('Why.').nullish(), reset('reason')),
  }),
  response: z.object({ run: RunSchema }),
  responseDescription: 'The run, PENDING again.',
  errors: [404, 409],
});

const history = fieldsOf((raw) => parseHistory(raw), runRef);

export const runHistory = defineOperation({
  id: 'runHistory',
  method: 'get',
  path: `${RUN}/history`,
  tag: TAG,
  summary: "A run's operator history",
  status: 200,
  params: runParams,
  query: z.strictObject({
    pageSize: pageSizeQuery(OPERATOR_LIMITS.historyPage, history('pageSize')),
    pageToken: rule(pageTokenDoc, checkHistoryPageToken, queryText),
  }),
  response: z.object({ events: z.array(HistoryEventSchema), nextPageToken }),
  responseDescription: 'Cancels, terminations, retries and resets, oldest first.',
  errors: [404],
});

/* ---------- Signals ---------- */

const signal = fieldsOf((raw) => parseSignal('default', raw, null), { runId: SOME_RUN, name: 's' });
const signalByExternalId = fieldsOf((raw) => parseSignal('default', raw, null, 'externalId'), {
  externalId: 'e',
  name: 's',
});
const signalName = doc.name('Signal name.', SIGNAL_LIMITS.nameBytes);
const requestIdDoc = doc.optionalText(
  'Your id for this signal: sending it again with the same id delivers it once.',
  SIGNAL_LIMITS.requestIdBytes,
);
const signalResponse = z.object({ runId: doc.uuid('The run the signal went to.') });

export const signalRun = defineOperation({
  id: 'signalRun',
  method: 'post',
  path: `${RUN}/signals`,
  tag: TAG,
  summary: 'Send a signal to a run',
  description: 'Buffered until the run waits for it (ctx.waitForSignal), then delivered once.',
  status: 200,
  params: runParams,
  body: z.strictObject({
    name: rule(signalName, signal('name')),
    ...payloadFields('payload', 'The signal payload.'),
    requestId: rule(requestIdDoc, signal('requestId')),
  }),
  response: signalResponse,
  responseDescription: 'Sent.',
  errors: [404, 409, 413],
});

export const signalByExternal = defineOperation({
  id: 'signalByExternalId',
  method: 'post',
  path: '/v1/namespaces/{namespace}/signals',
  tag: TAG,
  summary: 'Send a signal to the live run holding an external id',
  status: 200,
  params: z.strictObject({ namespace: namespaceParam }),
  body: z.strictObject({
    externalId: rule(doc.name('External id of the run.', LIMITS.externalIdBytes), signalByExternalId('externalId')),
    name: rule(signalName, signalByExternalId('name')),
    ...payloadFields('payload', 'The signal payload.'),
    requestId: rule(requestIdDoc, signalByExternalId('requestId')),
  }),
  response: signalResponse,
  responseDescription: 'Sent.',
  errors: [404, 409, 413],
});

export const WORKFLOW_OPERATIONS = [
  startRun,
  listRuns,
  getRun,
  cancelRun,
  deleteRun,
  listSteps,
  getResult,
  terminateRun,
  retryRun,
  resetRun,
  runHistory,
  signalRun,
  signalByExternal,
];
