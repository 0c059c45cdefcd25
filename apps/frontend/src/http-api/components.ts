import { z } from 'zod';
import {
  ErrorCode,
  ErrorReason,
  FLOW_CONTROL,
  LIMITS,
  ROLES,
  RUN_HISTORY_ACTIONS,
  RUN_STATUSES,
  StepKind,
  StepStatus,
  WorkerStatus,
} from '@baton/contracts';
import { doc } from './rules';

/*
 * The shapes the HTTP API answers with (edge/views.ts and the controllers'
 * *ToHttp functions build them): one zod schema each, shown in the OpenAPI
 * document under components.schemas and referenced by $ref. Times are ISO
 * 8601 text; a payload is a JSON value under `x` or base64 bytes under
 * `xBase64`, whichever the stored encoding is.
 */

const time = (description: string) => doc.dateTime(description);
const maybeTime = (description: string) => doc.dateTime(description).nullable();
const text = (description: string) => z.string().describe(description);
const maybeText = (description: string) => z.string().nullable().describe(description);
const count = (description: string) => z.int().min(0).describe(description);

/** A stored payload as a response carries it: one of the two fields, or neither when there is none. */
function payloadOut(key: string, description: string) {
  return {
    [key]: doc.json(`${description} (a JSON payload).`).optional(),
    [`${key}Base64`]: z
      .string()
      .meta({ format: 'byte', description: `${description} (a binary payload, base64).` })
      .optional(),
  };
}

export const ErrorInfoSchema = z
  .object({
    message: text('What went wrong.'),
    type: maybeText('The error class or type name.').optional(),
    stack: maybeText('The stack trace, as the worker reported it.').optional(),
    nonRetryable: z.boolean().optional().describe('The failure is final: no retry.'),
  })
  .describe('A failure as a worker reported it.');

export const RetryPolicySchema = z
  .object({
    maxAttempts: z.int().min(1).max(LIMITS.maxAttempts).optional(),
    initialIntervalMs: count('Wait before the first retry.').optional(),
    backoffCoefficient: z.number().optional(),
    maxIntervalMs: count('Longest wait between attempts.').optional(),
    nonRetryableErrors: z.array(z.string()).optional().describe('Error types that fail at once.'),
  })
  .describe("A run's retry policy as given at start; unset fields take the defaults.");

const ConcurrencySchema = z
  .object({ key: z.string(), limit: z.int().min(FLOW_CONTROL.concurrencyLimit.min) })
  .describe('At most `limit` RUNNING runs of the namespace hold `key` at once.');

export const RunSchema = z
  .object({
    id: doc.uuid('The run id.'),
    namespace: text('Namespace.'),
    queue: text('Task queue.'),
    workflowType: text('Workflow type.'),
    status: z.enum(RUN_STATUSES),
    externalId: maybeText('Your id for the run (idempotency key).'),
    attempt: count('Attempts so far, the current one included.'),
    claims: count('Times a worker claimed the run.'),
    retry: RetryPolicySchema.nullable(),
    ...payloadOut('input', 'The input'),
    ...payloadOut('output', 'The result, once COMPLETED'),
    error: ErrorInfoSchema.nullable(),
    correlationId: maybeText('Correlation id given at start.'),
    traceId: maybeText('W3C trace id of the run.'),
    scheduleId: maybeText('The schedule that started it.'),
    fireTime: maybeTime('The schedule fire time it was started for.'),
    lockedBy: maybeText('The worker holding it.'),
    leaseEpoch: count('Claims of the run so far (diagnostics only).'),
    lockedUntil: maybeTime('When the current lease ends.'),
    availableAt: time('When it may be claimed.'),
    wakeUpAt: maybeTime('When a sleeping run wakes.'),
    deadlineAt: maybeTime('When the run times out.'),
    createdAt: time('Created.'),
    startedAt: maybeTime('First claimed.'),
    finishedAt: maybeTime('Finished.'),
    updatedAt: time('Last changed.'),
    parentRunId: maybeText('The run that started this one as a child.'),
    parentStepId: maybeText("The parent's CHILD step."),
    priority: z.int().min(FLOW_CONTROL.priority.min).max(FLOW_CONTROL.priority.max),
    concurrency: ConcurrencySchema.nullable(),
  })
  .describe('A workflow run.');

export const StepSchema = z
  .object({
    runId: doc.uuid('The run.'),
    stepId: text('The step id.'),
    seq: count('Position in the run.'),
    kind: z.enum(Object.values(StepKind)),
    status: z.enum(Object.values(StepStatus)),
    attempt: count('Attempts of the step.'),
    ...payloadOut('output', 'The step output'),
    error: ErrorInfoSchema.nullable(),
    final: z.boolean().describe('A failed step that is final will not run again.'),
    retryAt: maybeTime('When a failed, not final step runs again.'),
    wakeUpAt: maybeTime('When a SLEEP step ends.'),
    startedAt: maybeTime('Started.'),
    finishedAt: maybeTime('Finished.'),
    childRunId: maybeText("A CHILD step's child run."),
  })
  .describe('A step of a run.');

export const WorkerSchema = z
  .object({
    id: doc.uuid('The worker id.'),
    namespace: text('Namespace.'),
    queue: text('Task queue it polls.'),
    hostname: text('Host name.'),
    pid: count('Process id.'),
    version: text('Its version label.'),
    workflowTypes: z.array(z.string()),
    maxConcurrent: z.int().min(1),
    typeConcurrency: z.record(z.string(), z.int()).describe('Slots per workflow type.'),
    labels: z.record(z.string(), z.string()),
    status: z.enum(Object.values(WorkerStatus)),
    activeCount: count('Runs it holds now.'),
    registeredAt: time('Registered.'),
    lastHeartbeatAt: time('Last heartbeat.'),
  })
  .describe('A registered worker.');

export const QueueStatsSchema = z
  .object({
    namespace: text('Namespace.'),
    queue: text('Task queue.'),
    pending: count('Runs waiting to be claimed.'),
    running: count('Runs held by workers.'),
    sleeping: count('Runs asleep or waiting.'),
  })
  .describe("A queue's backlog.");

export const QueueSchema = QueueStatsSchema.extend({
  oldestClaimableAgeMs: z.int().min(0).nullable().describe('Age of the oldest claimable run, if any.'),
}).describe("A queue's backlog, with the age of its oldest claimable run.");

export const ScheduleSchema = z
  .object({
    namespace: text('Namespace.'),
    scheduleId: text('The schedule id.'),
    workflowType: text('Workflow type it starts.'),
    queue: text('Task queue of its runs.'),
    cron: text('Cron expression (5 or 6 fields).'),
    timezone: text('IANA time zone of the cron expression.'),
    ...payloadOut('input', 'Input of each run'),
    maxCatchup: z.int().min(LIMITS.maxCatchup.min).max(LIMITS.maxCatchup.max),
    paused: z.boolean(),
    nextFireAt: maybeTime('Next fire time.'),
    lastFiredAt: maybeTime('Last fire time.'),
    createdAt: time('Created.'),
    updatedAt: time('Last changed.'),
  })
  .describe('A cron schedule that starts runs.');

export const ApiKeySchema = z
  .object({
    id: doc.uuid('The key id.'),
    name: text('Name.'),
    prefix: text('First characters of the secret, to recognise it.'),
    namespaces: z.array(z.string()).describe('Namespaces it may act in ("*": all).'),
    roles: z.array(z.enum(ROLES)),
    createdAt: time('Created.'),
    revokedAt: maybeTime('Revoked, if it was.'),
  })
  .describe('An API key (never its secret).');

export const RateLimitSchema = z
  .object({
    namespace: text('Namespace.'),
    queue: text('The queue it limits (or workflowType).').optional(),
    workflowType: text('The workflow type it limits (or queue).').optional(),
    limit: z.int().min(FLOW_CONTROL.rateLimit.min).max(FLOW_CONTROL.rateLimit.max),
    periodMs: z.int().min(FLOW_CONTROL.ratePeriodMs.min).max(FLOW_CONTROL.ratePeriodMs.max),
    createdAt: time('Created.'),
    updatedAt: time('Last changed.'),
  })
  .describe('At most `limit` claims per `periodMs` of a queue or a workflow type.');

export const HistoryEventSchema = z
  .object({
    id: text('Event id.'),
    runId: doc.uuid('The run.'),
    at: time('When.'),
    action: z.enum(RUN_HISTORY_ACTIONS),
    actor: maybeText('The API key that acted.'),
    reason: maybeText('Why, as the operator said.'),
    detail: z.record(z.string(), z.string()),
  })
  .describe("An operator action in a run's history.");

export const TaskSchema = z
  .object({
    runId: doc.uuid('The claimed run.'),
    namespace: text('Namespace.'),
    queue: text('Task queue.'),
    workflowType: text('Workflow type.'),
    ...payloadOut('input', 'The input'),
    attempt: count('Attempt of the run.'),
    leaseEpoch: z.int().min(1).describe('The claim; sent back with every mutation.'),
    leaseToken: doc.uuid('Proves the claim; sent back with every mutation.'),
    deadlineAt: maybeTime('When the run times out.'),
    correlationId: maybeText('Correlation id.'),
    traceId: maybeText('Trace id.'),
    traceparent: maybeText('W3C traceparent of the run.'),
    history: z.array(StepSchema).describe('Steps recorded so far (replay).'),
  })
  .describe('A claimed run handed to a worker.');

export const ServerInfoSchema = z
  .object({
    version: text('Server version.'),
    payloadLimitBytes: z.int().describe('Largest payload accepted.'),
    maxSleepMs: z.int().describe('Longest sleep or signal wait.'),
    pollTimeoutMs: z.int().describe('How long a poll waits for work.'),
    heartbeatIntervalMs: z.int().describe('How often workers heartbeat.'),
  })
  .describe('Server facts a client adapts to.');

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.values(ErrorCode)),
      message: text('What is wrong, naming the field and the limit.'),
      field: text('The request field at fault (INVALID_ARGUMENT, PAYLOAD_TOO_LARGE).').optional(),
      reason: z.enum(Object.values(ErrorReason)).optional().describe('Which precondition failed (409).'),
      retryAfterMs: z.int().min(0).optional().describe('When to try again (429).'),
    }),
  })
  .describe('Every error: the code, a message naming the field and the limit, and the field.');

/** components.schemas: name → schema. */
export const COMPONENTS = {
  Run: RunSchema,
  Step: StepSchema,
  Worker: WorkerSchema,
  Task: TaskSchema,
  Queue: QueueSchema,
  QueueStats: QueueStatsSchema,
  Schedule: ScheduleSchema,
  ApiKey: ApiKeySchema,
  RateLimit: RateLimitSchema,
  HistoryEvent: HistoryEventSchema,
  RetryPolicy: RetryPolicySchema,
  ErrorInfo: ErrorInfoSchema,
  ServerInfo: ServerInfoSchema,
  Error: ErrorSchema,
} as const;
