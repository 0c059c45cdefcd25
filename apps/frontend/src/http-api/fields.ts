import { z } from 'zod';
import {
  FLOW_CONTROL,
  INPUT_LIMITS,
  LIMITS,
  RETRY_LIMITS,
  checkName,
  checkUuid,
  type RETRY_OPTION_KEYS,
} from '@baton/contracts';
import { lastStepFromHttp } from '../edge/payloads';
import {
  parseLease,
  parseNamespace,
  parsePageSize,
  parseRunId,
  parseStepDuration,
  parseStepRef,
  parseWorkerId,
} from '../edge/requests';
import { checkScheduleRef } from '../edge/schedules';
import { doc, fieldsOf, payloadFields, queryInteger, rule } from './rules';
import type { Check } from './rules';

/*
 * Path parameters and body members that several operations share.
 */

/** A UUID that stands for "some valid id" where a parser needs one beside the field it checks. */
const SOME_ID = '00000000-0000-0000-0000-000000000000';

export const namespaceParam = rule(doc.name('The namespace.').meta({ example: 'default' }), parseNamespace);
export const runIdParam = rule(doc.uuid('The run id.'), (v) => parseRunId(v));
export const workerIdParam = rule(doc.uuid('The worker id.'), parseWorkerId);
export const scheduleIdParam = rule(doc.name('The schedule id.'), (v) => checkScheduleRef('default', v));
export const stepIdParam = rule(doc.name('The step id.'), (v) => parseStepRef({ stepId: v }));
export const keyIdParam = rule(doc.uuid('The API key id.'), (v) => checkUuid(v, 'keyId'));
export const queueParam = rule(doc.name('The task queue.'), (v) => checkName(v, 'queue'));

/** `{namespace}` and `{runId}` of a run. */
export const runParams = z.strictObject({ namespace: namespaceParam, runId: runIdParam });

/* ---------- Worker mutations: the lease (path namespace and run, body worker, epoch and token) ---------- */

const lease = fieldsOf((raw) => parseLease(raw), {
  namespace: 'default',
  runId: SOME_ID,
  workerId: SOME_ID,
  leaseEpoch: 1,
  leaseToken: SOME_ID,
});

/** The path of a worker mutation: its namespace and run are the lease's (errors name `lease.namespace`). */
export const leaseParams = {
  namespace: rule(doc.name('The namespace (of the lease).').meta({ example: 'default' }), lease('namespace')),
  runId: rule(doc.uuid('The claimed run (of the lease).'), lease('runId')),
};

/** The lease members of a worker mutation's body: what the poll handed over with the task. */
export const leaseBody = {
  workerId: rule(doc.uuid('The worker holding the claim.'), lease('workerId')),
  leaseEpoch: rule(doc.int(1, INPUT_LIMITS.maxInt32, "The task's leaseEpoch."), lease('leaseEpoch')),
  leaseToken: rule(doc.uuid("The task's leaseToken: proves the claim."), lease('leaseToken')),
};

/** A step's position in its run: absent is 0. */
export const seqDoc = doc.int(0, INPUT_LIMITS.maxStepSeq, 'Position of the step in the run.').nullish();

/** Run seq through the shared step reference parser (errors name `seq`). */
export const seqField = rule(seqDoc, (v) => parseStepRef({ stepId: 's', seq: v }));

/** How long a step's body ran, by the worker's clock (its recorded start is its completion less this). */
export const stepDurationDoc = doc
  .int(0, LIMITS.maxRunTimeoutMs, "How long the step's body ran, in milliseconds (absent or 0: not measured).")
  .nullish();

/** `durationMs` of CompleteStep, through the shared parser (errors name `durationMs`). */
export const stepDurationField = rule(stepDurationDoc, (v) => parseStepDuration(v));

/** `lastStep` of CompleteWorkflow, Sleep and WaitForSignal: the run's last step, completed with the call. */
export const lastStepField = rule(
  z
    .strictObject({
      stepId: doc.name('The step id.'),
      seq: seqDoc,
      ...payloadFields('output', 'The step output.'),
      durationMs: stepDurationDoc,
    })
    .nullish()
    .describe("The run's last FUNCTION step, completed with this call (saves a round trip)."),
  (v) => lastStepFromHttp(v, Number.POSITIVE_INFINITY),
);

/* ---------- Nested request members ---------- */

const interval = (what: string) => doc.duration(RETRY_LIMITS.maxIntervalMs, what).nullish();

/** A retry policy as a request gives it: DESIGN §13 names (durations) or the explicit `…Ms` ones. */
export const retryOptionsDoc = z
  .strictObject({
    maxAttempts: doc.int(1, LIMITS.maxAttempts, 'Most attempts, the first included.').nullish(),
    initialInterval: interval('Wait before the first retry (or initialIntervalMs).'),
    initialIntervalMs: interval('Wait before the first retry.'),
    backoffCoefficient: z
      .number()
      .min(RETRY_LIMITS.backoffCoefficient.min)
      .max(RETRY_LIMITS.backoffCoefficient.max)
      .nullish()
      .describe('Each wait is the previous one times this.'),
    maxInterval: interval('Longest wait between attempts (or maxIntervalMs).'),
    maxIntervalMs: interval('Longest wait between attempts.'),
    nonRetryableErrors: z
      .array(z.string().min(1).max(LIMITS.nameBytes))
      .max(RETRY_LIMITS.nonRetryableErrors)
      .nullish()
      .describe('Error types that fail at once, without retry.'),
  } satisfies Record<(typeof RETRY_OPTION_KEYS)[number], z.ZodType>)
  .nullish()
  .describe('Retry policy; unset fields take the defaults.');

export const concurrencyDoc = z
  .strictObject({
    key: doc.name('Concurrency key.'),
    limit: doc.int(
      FLOW_CONTROL.concurrencyLimit.min,
      FLOW_CONTROL.concurrencyLimit.max,
      'Most RUNNING runs holding the key.',
    ),
  })
  .nullish()
  .describe('At most `limit` RUNNING runs of the namespace hold `key` at once.');

/** A failure as a worker reports it: any text is kept (made storable), only types are checked. */
export const errorInfoDoc = z
  .strictObject({
    message: z.string().nullish().describe('What went wrong.'),
    type: z.string().nullish().describe('Error class or type name (matched against nonRetryableErrors).'),
    stack: z.string().nullish().describe('Stack trace.'),
    nonRetryable: z.boolean().nullish().describe('Fail for good: no retry.'),
  })
  .nullish()
  .describe('The failure.');

/* ---------- Pages ---------- */

/** `?pageSize=`: 1 to `max`, absent or empty for the default. */
export function pageSizeQuery(limits: { default: number; max: number }, check?: Check) {
  return rule(
    doc.int(1, limits.max, `Items per page (default ${limits.default}).`).optional().meta({ default: limits.default }),
    check ?? ((v) => parsePageSize(v, limits)),
    queryInteger,
  );
}

/** `?pageToken=`: the nextPageToken of the previous page. */
export const pageTokenDoc = z.string().optional().describe('nextPageToken of the previous page; absent for the first.');

/** A page's `nextPageToken`: null on the last page. */
export const nextPageToken = z.string().nullable().describe('Pass as pageToken for the next page; null on the last.');
