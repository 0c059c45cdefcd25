import { z } from 'zod';
import { CHILD_LIMITS, INPUT_LIMITS, LIMITS, SIGNAL_LIMITS, WorkerStatus, checkName } from '@baton/contracts';
import { parseStartChild } from '../../children/child-requests';
import { parseDrain } from '../../edge/http-input';
import {
  parseErrorInfo,
  parseMaxTasks,
  parsePollTypes,
  parseRegister,
  parseRetryPolicy,
  parseRunIds,
  parseSleepMs,
  parseSleepWaited,
  parseStepRef,
} from '../../edge/requests';
import { parseWaitForSignal } from '../../edge/signals';
import { StepSchema, TaskSchema, WorkerSchema } from '../components';
import {
  errorInfoDoc,
  lastStepField,
  leaseBody,
  leaseParams,
  namespaceParam,
  retryOptionsDoc,
  seqField,
  stepDurationField,
  stepIdParam,
  workerIdParam,
} from '../fields';
import { defineOperation } from '../operation';
import { doc, fieldsOf, payloadFields, queryBoolean, rule } from '../rules';

/*
 * The worker protocol over HTTP/JSON (the same operations as gRPC
 * WorkerService): register, heartbeat, poll, and the run mutations, each
 * carrying the lease of the task it acts on.
 */

const N = '/v1/namespaces/{namespace}';
const WORKER = `${N}/workers/{workerId}`;
const RUN = `${N}/workflows/{runId}`;
const TAG = 'workers';

const workerParams = z.strictObject({ namespace: namespaceParam, workerId: workerIdParam });
const leasePath = z.strictObject(leaseParams);
const stepPath = z.strictObject({ ...leaseParams, stepId: stepIdParam });
/** Mutations answer 409 when the lease is lost or the run moved on, 404 for an unknown run. */
const MUTATION_ERRORS = [404, 409] as const;

const register = fieldsOf((raw) => parseRegister('default', raw), { workflowTypes: ['w'] });

export const registerWorker = defineOperation({
  id: 'registerWorker',
  method: 'post',
  path: `${N}/workers`,
  tag: TAG,
  summary: 'Register a worker',
  status: 201,
  params: z.strictObject({ namespace: namespaceParam }),
  body: z.strictObject({
    queue: rule(
      z.string().max(LIMITS.nameBytes).optional().describe('Task queue (default "default").'),
      register('queue'),
    ),
    workflowTypes: rule(
      z.array(doc.name('A workflow type.')).min(1).max(LIMITS.workflowTypesPerWorker).describe('What it runs.'),
      register('workflowTypes'),
    ),
    maxConcurrent: rule(
      doc.int(0, LIMITS.maxConcurrent, 'Runs at once (0 or absent: 100).').optional(),
      register('maxConcurrent'),
    ),
    typeConcurrency: rule(
      z.record(z.string(), z.int().min(1).max(LIMITS.maxConcurrent)).nullish().describe('Slots per workflow type.'),
      register('typeConcurrency'),
    ),
    hostname: rule(doc.optionalText('Host name.'), register('hostname')),
    pid: rule(doc.int(0, INPUT_LIMITS.maxInt32, 'Process id.').nullish(), register('pid')),
    version: rule(doc.optionalText('Version label.'), register('version')),
    labels: rule(
      z.record(z.string(), z.string().max(LIMITS.nameBytes).nullable()).nullish().describe('Free labels.'),
      register('labels'),
    ),
  }),
  example: { queue: 'default', workflowTypes: ['hello'] },
  response: z.object({
    workerId: doc.uuid('The new worker id.'),
    worker: WorkerSchema,
    heartbeatIntervalMs: z.int(),
    pollTimeoutMs: z.int(),
    leaseDurationMs: z.int(),
    workerStaleThresholdMs: z.int(),
  }),
  responseDescription: 'Registered, with the timings the worker keeps to.',
});

export const heartbeat = defineOperation({
  id: 'heartbeat',
  method: 'post',
  path: `${WORKER}/heartbeat`,
  tag: TAG,
  summary: 'Heartbeat',
  status: 200,
  params: workerParams,
  body: z.strictObject({
    activeRunIds: rule(z.array(doc.uuid('A run.')).nullish().describe('Runs the worker is executing.'), (v) =>
      parseRunIds(v, 'activeRunIds'),
    ),
  }),
  response: z.object({
    action: z.enum(['OK', 'REREGISTER', 'DRAIN']),
    cancelledRunIds: z.array(z.string()).describe('Of activeRunIds, those it no longer holds: stop them.'),
  }),
  responseDescription: 'What the worker should do.',
  errors: [404],
});

export const deregisterWorker = defineOperation({
  id: 'deregisterWorker',
  method: 'delete',
  path: WORKER,
  tag: TAG,
  summary: 'Deregister (or drain) a worker',
  status: 200,
  params: workerParams,
  query: z.strictObject({
    drain: rule(
      z.boolean().optional().describe('Finish what it holds first (DRAINING) instead of leaving now.'),
      parseDrain,
      queryBoolean,
    ),
  }),
  response: z.object({ status: z.enum(Object.values(WorkerStatus)) }),
  responseDescription: 'Its new status.',
  errors: [404],
});

export const poll = defineOperation({
  id: 'poll',
  method: 'post',
  path: `${WORKER}/poll`,
  tag: TAG,
  summary: 'Poll for tasks',
  description: 'Long poll: answers with a task as soon as one is claimable, or none after the poll timeout.',
  status: 200,
  params: workerParams,
  body: z.strictObject({
    queue: rule(doc.name('Task queue.'), (v) => checkName(v, 'queue')),
    workflowTypes: rule(
      z
        .array(z.string())
        .max(LIMITS.workflowTypesPerWorker)
        .nullish()
        .describe('Types it has room for now (none: no task).'),
      parsePollTypes,
    ),
    maxTasks: rule(doc.int(0, LIMITS.pollMaxTasks, 'Most tasks (0 or absent: 1).').nullish(), parseMaxTasks),
  }),
  response: z.object({ task: TaskSchema.nullable(), moreTasks: z.array(TaskSchema) }),
  responseDescription: 'A task (or none), and more when maxTasks allowed.',
  errors: [404, 409],
});

export const cancellations = defineOperation({
  id: 'cancellations',
  method: 'post',
  path: `${WORKER}/cancellations`,
  tag: TAG,
  summary: "Wait for cancels of the worker's runs",
  status: 200,
  params: workerParams,
  response: z.object({ runIds: z.array(z.string()).describe('Runs cancelled while it waited.') }),
  responseDescription: 'Cancelled runs, or none after the poll timeout.',
  errors: [404],
});

const stepRef = (prefix: string) => fieldsOf((raw) => parseStepRef(raw, prefix), { stepId: 's' });

export const beginStep = defineOperation({
  id: 'beginStep',
  method: 'post',
  path: `${RUN}/steps/{stepId}/begin`,
  tag: TAG,
  summary: 'Begin a step',
  status: 200,
  params: stepPath,
  body: z.strictObject({ ...leaseBody, seq: seqField }),
  response: z.union([
    z.object({ shouldExecute: z.literal(true), attempt: z.int() }),
    StepSchema.extend({ shouldExecute: z.literal(false) }),
  ]),
  responseDescription: 'Run it (attempt), or its recorded outcome.',
  errors: MUTATION_ERRORS,
});

export const completeStep = defineOperation({
  id: 'completeStep',
  method: 'post',
  path: `${RUN}/steps/{stepId}/complete`,
  tag: TAG,
  summary: 'Complete a step',
  status: 200,
  params: stepPath,
  body: z.strictObject({
    ...leaseBody,
    seq: seqField,
    ...payloadFields('output', 'The step output.'),
    durationMs: stepDurationField,
  }),
  response: z.object({ attempt: z.int() }),
  responseDescription: 'Recorded.',
  errors: [...MUTATION_ERRORS, 413],
});

export const failStep = defineOperation({
  id: 'failStep',
  method: 'post',
  path: `${RUN}/steps/{stepId}/fail`,
  tag: TAG,
  summary: 'Fail a step',
  status: 200,
  params: stepPath,
  body: z.strictObject({
    ...leaseBody,
    seq: seqField,
    error: rule(errorInfoDoc, parseErrorInfo),
    retry: rule(retryOptionsDoc, (v) => parseRetryPolicy(v)),
  }),
  response: z.object({
    willRetry: z.boolean(),
    retryAt: doc.dateTime('When it runs again.').nullable(),
    attempt: z.int(),
  }),
  responseDescription: 'Whether and when the step runs again.',
  errors: MUTATION_ERRORS,
});

const sleepDuration = rule(
  doc.duration(LIMITS.maxSleepMs, 'How long (at most the server maxSleepMs, GET /v1/info).').nullish(),
  (v) => parseSleepMs(v, LIMITS),
);
const sleepStep = stepRef('');

export const sleep = defineOperation({
  id: 'sleep',
  method: 'post',
  path: `${RUN}/sleep`,
  tag: TAG,
  summary: 'Sleep',
  description: 'Suspends the run until the time is up; the worker lets it go.',
  status: 200,
  params: leasePath,
  body: z.strictObject({
    ...leaseBody,
    stepId: rule(doc.name('The SLEEP step id.'), sleepStep('stepId')),
    seq: seqField,
    durationMs: sleepDuration,
    duration: sleepDuration,
    waitedMs: rule(
      doc
        .int(
          0,
          LIMITS.maxSleepMs,
          'How long this call waited in the worker before it was sent (ms; absent: 0). The sleep counts from when the run asked: its wake time is the duration less this, from now.',
        )
        .nullish(),
      (v) => parseSleepWaited(v),
    ),
    lastStep: lastStepField,
  }),
  response: z.object({
    suspended: z.boolean().describe('The run sleeps (false: the time is already up).'),
    wakeUpAt: doc.dateTime('When it wakes.').nullable(),
  }),
  responseDescription: 'Suspended (or not).',
  errors: [...MUTATION_ERRORS, 413],
});

export const completeWorkflow = defineOperation({
  id: 'completeWorkflow',
  method: 'post',
  path: `${RUN}/complete`,
  tag: TAG,
  summary: 'Complete the run',
  status: 200,
  params: leasePath,
  body: z.strictObject({ ...leaseBody, ...payloadFields('output', 'The run result.'), lastStep: lastStepField }),
  response: z.object({}),
  responseDescription: 'COMPLETED.',
  errors: [...MUTATION_ERRORS, 413],
});

export const failWorkflow = defineOperation({
  id: 'failWorkflow',
  method: 'post',
  path: `${RUN}/fail`,
  tag: TAG,
  summary: 'Fail the run',
  status: 200,
  params: leasePath,
  body: z.strictObject({ ...leaseBody, error: rule(errorInfoDoc, parseErrorInfo) }),
  response: z.object({
    status: z.string().describe('FAILED, or PENDING when it will retry.'),
    willRetry: z.boolean(),
    retryAt: doc.dateTime('When it runs again.').nullable(),
    attempt: z.int(),
  }),
  responseDescription: 'Failed, or scheduled to retry.',
  errors: MUTATION_ERRORS,
});

const waitFor = fieldsOf((raw) => parseWaitForSignal(raw, LIMITS), { stepId: 's', name: 'n' });
const signalTimeout = (key: string) =>
  rule(
    doc.duration(LIMITS.maxSleepMs, 'Give up waiting after this long (absent: wait until a signal comes).').nullish(),
    waitFor(key),
  );

export const waitForSignal = defineOperation({
  id: 'waitForSignal',
  method: 'post',
  path: `${RUN}/wait-for-signal`,
  tag: TAG,
  summary: 'Wait for a signal',
  description: 'Answers the signal if one is buffered; otherwise suspends the run until one comes or the timeout.',
  status: 200,
  params: leasePath,
  body: z.strictObject({
    ...leaseBody,
    stepId: rule(doc.name('The SIGNAL step id.'), waitFor('stepId')),
    seq: seqField,
    name: rule(doc.name('Signal name.', SIGNAL_LIMITS.nameBytes), waitFor('name')),
    timeoutMs: signalTimeout('timeoutMs'),
    timeout: signalTimeout('timeout'),
    lastStep: lastStepField,
  }),
  response: z.union([
    z.object({ suspended: z.literal(true), wakeUpAt: doc.dateTime('Timeout, if any.').nullable() }),
    z.object({
      suspended: z.literal(false),
      payload: z.unknown().describe('The signal payload (JSON).'),
      payloadBase64: z.string().optional().describe('The signal payload (binary, base64).'),
      timedOut: z.boolean(),
    }),
  ]),
  responseDescription: 'The signal, or suspended until it comes.',
  errors: [...MUTATION_ERRORS, 413],
});

const child = fieldsOf((raw) => parseStartChild(raw, null), { stepId: 's', workflowType: 'w' });
const childTimeout = (key: string) =>
  rule(doc.duration(LIMITS.maxRunTimeoutMs, "The child's timeout.", { positive: true }).nullish(), child(key));

export const startChild = defineOperation({
  id: 'startChild',
  method: 'post',
  path: `${RUN}/children/{stepId}`,
  tag: TAG,
  summary: 'Start a child run',
  status: 200,
  params: stepPath,
  body: z.strictObject({
    ...leaseBody,
    seq: seqField,
    workflowType: rule(doc.name('Workflow type of the child.'), child('workflowType')),
    queue: rule(doc.optionalText("Task queue (default: the parent's)."), child('queue')),
    ...payloadFields('input', 'The child input.'),
    retry: rule(retryOptionsDoc, child('retry')),
    timeoutMs: childTimeout('timeoutMs'),
    timeout: childTimeout('timeout'),
    externalId: rule(doc.optionalText('External id of the child.', LIMITS.externalIdBytes), child('externalId')),
    cancelWithParent: rule(
      z.boolean().nullish().describe('Cancel it with the parent (default true).'),
      child('cancelWithParent'),
    ),
    park: rule(z.boolean().nullish().describe('Suspend the parent until the child finishes.'), child('park')),
    awaiting: rule(
      z
        .array(doc.name('A CHILD step id.'))
        .max(CHILD_LIMITS.maxAwaiting)
        .nullish()
        .describe('Other CHILD steps the workflow awaits.'),
      child('awaiting'),
    ),
  }),
  response: z.object({ step: StepSchema, suspended: z.boolean() }),
  responseDescription: 'The CHILD step, and whether the parent is suspended.',
  errors: [...MUTATION_ERRORS, 413],
});

export const WORKER_OPERATIONS = [
  registerWorker,
  heartbeat,
  deregisterWorker,
  poll,
  cancellations,
  beginStep,
  completeStep,
  failStep,
  sleep,
  completeWorkflow,
  failWorkflow,
  waitForSignal,
  startChild,
];
