import { BatonError, describeValue, parseDuration, RunStatus } from '@baton/contracts';
import type { Duration, QueueStats } from '@baton/contracts';
import type { RequestOf, ServiceName, UnaryMethod } from '@baton/proto';
import { Admin } from './admin';
import { WorkflowCancelledError, WorkflowFailedError, WorkflowTerminatedError } from './errors';
import { OperatorCalls } from './operator';
import type { ResetOptions, RunHistoryEvent } from './operator';
import { encodePayload } from './payload';
import { toRetryPolicy } from './retry-options';
import type { RetryOptions } from './retry-options';
import { RateLimits } from './rate-limits';
import { Schedules, checkOptions, malformedText, sendChecked } from './schedules';
import { sendSignal } from './signals';
import type { SignalOptions, SignalSent, SignalTarget } from './signals';
import { StartBatcher } from './start-batcher';
import { addressOf } from './address';
import { Transport } from './transport';
import type { CallOptions, ConnectionOptions } from './transport';
import { activeTraceparent, traceStart } from './tracing';
import { runFromWire, stepFromWire, workerFromWire } from './views';
import type { StepRecord, WorkerInfo, WorkflowRun } from './views';
import { isWorkflowDefinition } from './workflows';
import type { RunHandle, WorkflowDefinition } from './workflows';

/** Where the client connects; `apiKey` and `tls` say how (see ConnectionOptions). */
export interface ClientOptions extends ConnectionOptions {
  /** host:port of the frontend's gRPC endpoint. Default: BATON_ADDRESS, else `localhost:50051`. */
  address?: string;
  /** The namespace every call works in. Default `default`. */
  namespace?: string;
}

/** Options of `client.start`; each is optional. */
export interface StartOptions {
  /** The task queue whose workers run it. Default `default`. */
  queue?: string;
  /** Idempotency key: while a run with this key is not terminal, starting again returns it. */
  externalId?: string;
  /** The run's retry policy: `initialInterval` / `maxInterval` as durations (or the `...Ms` names). */
  retry?: RetryOptions;
  /** Deadline for the whole run; past it the run fails with DEADLINE_EXCEEDED. */
  timeout?: Duration;
  /** Your own id for the run (a request id, say): stored with it and shown on it, never interpreted. */
  correlationId?: string;
  /** A trace id of yours, stored with the run and handed to its handler as `ctx.traceId`. */
  traceId?: string;
  /** Claimed before runs of lower priority on its queue, FIFO within one priority: -100 to 100, default 0. */
  priority?: number;
  /**
   * At most `limit` runs holding `key` run at once across all workers of the
   * namespace (say, per customer); the others wait PENDING without holding a
   * worker slot and do not hold back runs of other keys.
   */
  concurrency?: { key: string; limit: number };
}

/** What `client.start` returns: the run's id and the run as the start left it. */
export interface StartedRun {
  /** The run's id: what `result`, `get`, `cancel` and `signal` take. */
  id: string;
  /** true when `externalId` matched a live run: that run is returned, nothing new started. */
  alreadyExists: boolean;
  /** The run as the start left it (PENDING, or the live run `externalId` matched). */
  run: WorkflowRun;
}

/** Filters and paging of `client.list`; each is optional. */
export interface ListOptions {
  /** Only runs in this status. */
  status?: RunStatus;
  /** Only runs of this workflow type. */
  workflowType?: string;
  /** Only runs of this task queue. */
  queue?: string;
  /** Most runs in one page. */
  pageSize?: number;
  /** The `nextPageToken` of the previous page. */
  pageToken?: string;
  /** Only the children of this run (started with ctx.child). */
  parentRunId?: string;
  /** Only the run started with this external id. */
  externalId?: string;
  /** Only runs started with this correlation id. */
  correlationId?: string;
  /** Only runs created at or after this time. */
  createdAfter?: Date;
  /** Only runs created before this time. */
  createdBefore?: Date;
}

const START_OPTIONS: ReadonlyArray<keyof StartOptions> = [
  'queue',
  'externalId',
  'retry',
  'timeout',
  'correlationId',
  'traceId',
  'priority',
  'concurrency',
];
const LIST_OPTIONS: ReadonlyArray<keyof ListOptions> = [
  'status',
  'workflowType',
  'queue',
  'pageSize',
  'pageToken',
  'parentRunId',
  'externalId',
  'correlationId',
  'createdAfter',
  'createdBefore',
];

/** A list bound as the wire's epoch milliseconds (absent: none); the server checks the range. */
function epochMsOf(time: Date | undefined, field: string): number | undefined {
  if (time === undefined) return undefined;
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
    throw BatonError.invalid(`options.${field}`, `options.${field} must be a valid Date (got ${describeValue(time)})`);
  }
  return time.getTime();
}

/**
 * Starts and inspects workflow runs of one namespace, over gRPC.
 *
 * Any call can fail with a {@link BatonError} whose `code` says why:
 * DEADLINE_EXCEEDED (or UNAVAILABLE) when the server does not answer within
 * the call's deadline (30 s; meanwhile the call waits for a server that is
 * restarting), UNAUTHENTICATED for a missing or unknown API key,
 * PERMISSION_DENIED for a key without the role or namespace the call needs,
 * RESOURCE_EXHAUSTED past the key's rate limit (`retryAfterMs` says when to
 * try again), and INVALID_ARGUMENT naming the `field` of a malformed
 * argument. Each method lists what it adds.
 */
export class Client {
  /** The namespace every call of this client works in. */
  readonly namespace: string;
  /** Cron schedules of this namespace. */
  readonly schedules: Schedules;
  /** Rate limits of this namespace's queues and workflow types (an admin key). */
  readonly rateLimits: RateLimits;
  /** Workers, queues and API keys (an admin key). */
  readonly admin: Admin;
  private readonly transport: Transport;
  private readonly starts: StartBatcher;
  private readonly operator: OperatorCalls;

  /**
   * Connects on the first call, not here: a client made before the server is
   * up works once it is.
   *
   * @throws {@link BatonError} INVALID_ARGUMENT (field `tls`) when `tls.cert` and `tls.key` are not given together.
   */
  constructor(options: ClientOptions = {}) {
    this.transport = new Transport(addressOf(options.address), options);
    this.namespace = options.namespace ?? 'default';
    this.schedules = new Schedules(this.transport, this.namespace);
    this.rateLimits = new RateLimits(this.transport, this.namespace);
    this.admin = new Admin(this.transport, this.namespace);
    this.starts = new StartBatcher(this.transport);
    this.operator = new OperatorCalls(this.transport, this.namespace);
  }

  /**
   * Starts a run. Starts made while another of this client's starts is in
   * flight are sent together in one call; each still succeeds or fails alone.
   * With an OpenTelemetry tracer provider registered, the start is span
   * `baton.start <type>` (a child of the active span, if any) and the run,
   * wherever and however often it executes, continues its trace.
   *
   * @throws {@link BatonError} INVALID_ARGUMENT naming the field: an unknown option, a
   *   malformed duration, retry policy, priority or concurrency, a name over
   *   its limit, text that is not well-formed Unicode.
   * @throws {@link BatonError} PAYLOAD_TOO_LARGE when the input is over the server's payload limit.
   */
  start(workflowType: string, input?: unknown, options?: StartOptions): Promise<StartedRun>;
  /**
   * Starts a run of a {@link WorkflowDefinition} (see {@link defineWorkflow}):
   * `input` is checked against its handler's input type, and the handle's
   * `result()` has its output type. Otherwise as the string form.
   *
   * @throws {@link BatonError} as the string form.
   */
  start<TInput, TOutput>(
    workflow: WorkflowDefinition<TInput, TOutput>,
    input: TInput,
    options?: StartOptions,
  ): Promise<RunHandle<TInput, TOutput>>;
  async start(
    workflow: string | WorkflowDefinition<never, unknown>,
    input?: unknown,
    options: StartOptions = {},
  ): Promise<StartedRun | RunHandle> {
    if (isWorkflowDefinition(workflow)) {
      const started = await this.start(workflow.workflowType, input, options);
      return { ...started, result: (resultOptions) => this.result(started.id, resultOptions) };
    }
    const workflowType = workflow;
    checkOptions(options, START_OPTIONS, 'options');
    const request = {
      namespace: this.namespace,
      workflowType,
      queue: options.queue ?? '',
      input: encodePayload(input),
      externalId: options.externalId ?? '',
      retry: toRetryPolicy(options.retry),
      timeoutMs: options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout'),
      correlationId: options.correlationId ?? '',
      traceId: options.traceId ?? '',
      priority: options.priority,
      concurrency: options.concurrency,
    };
    const malformed = malformedText(request);
    if (malformed) throw malformed;
    const res = await traceStart(this.namespace, workflowType, (traceparent) =>
      this.starts.start(traceparent ? { ...request, traceparent } : request, { traceparent }),
    );
    const run = runFromWire(res.run);
    return { id: run.id, alreadyExists: !!res.alreadyExists, run };
  }

  /**
   * The run as it is now: status, attempt, input, output, error, timestamps.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   */
  async get<TInput = unknown, TOutput = unknown>(runId: string): Promise<WorkflowRun<TInput, TOutput>> {
    return runFromWire<TInput, TOutput>(await this.call('workflow', 'Get', { namespace: this.namespace, runId }));
  }

  /**
   * One page of the namespace's runs, newest first; `nextPageToken` (null on
   * the last page) is the next page's `pageToken`.
   *
   * @throws {@link BatonError} INVALID_ARGUMENT for an unknown option, a status that is none, or a page token this list did not give.
   */
  async list(options: ListOptions = {}): Promise<{ runs: WorkflowRun[]; nextPageToken: string | null }> {
    checkOptions(options, LIST_OPTIONS, 'options');
    const { createdAfter, createdBefore, ...filters } = options;
    const res = await this.call('workflow', 'List', {
      namespace: this.namespace,
      ...filters,
      createdAfterMs: epochMsOf(createdAfter, 'createdAfter'),
      createdBeforeMs: epochMsOf(createdBefore, 'createdBefore'),
    });
    return { runs: (res.runs ?? []).map(runFromWire), nextPageToken: res.nextPageToken || null };
  }

  /**
   * Waits for the run to finish and returns its output; throws
   * WorkflowFailedError, WorkflowCancelledError or WorkflowTerminatedError.
   * The server answers the moment the run turns terminal.
   *
   * @throws {@link WorkflowFailedError} when the run FAILED: its error's message, type and remote stack.
   * @throws {@link WorkflowCancelledError} when it was CANCELLED.
   * @throws {@link WorkflowTerminatedError} when an operator TERMINATED it.
   * @throws Error when `timeout` passes before it finishes (the run goes on).
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   */
  result<TOutput = unknown>(runId: string, options?: { timeout?: Duration }): Promise<TOutput>;
  /** As `result(runId)`, for a run started from a definition: typed by its handler's output. */
  result<TOutput>(run: RunHandle<unknown, TOutput>, options?: { timeout?: Duration }): Promise<TOutput>;
  async result(target: string | RunHandle, options: { timeout?: Duration } = {}): Promise<unknown> {
    const runId = typeof target === 'string' ? target : target.id;
    const run = await this.waitForTerminal(runId, options.timeout);
    if (run.status === RunStatus.COMPLETED) return run.output;
    if (run.status === RunStatus.CANCELLED) throw new WorkflowCancelledError(runId);
    if (run.status === RunStatus.TERMINATED) throw new WorkflowTerminatedError(runId, run.error?.message ?? '');
    throw new WorkflowFailedError(
      runId,
      run.error?.message ?? 'workflow failed',
      run.error?.type ?? null,
      run.error?.stack ?? null,
    );
  }

  /**
   * Waits for a terminal state and returns the run whatever that state is.
   *
   * @throws Error when `timeout` passes before it finishes (the run goes on).
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   */
  async waitForTerminal(runId: string, timeout?: Duration): Promise<WorkflowRun> {
    const deadline = timeout === undefined ? Infinity : Date.now() + parseDuration(timeout, 'timeout');
    for (;;) {
      const waitMs = Math.max(0, Math.min(30_000, deadline - Date.now()));
      const res = await this.call(
        'workflow',
        'WaitResult',
        { namespace: this.namespace, runId, waitMs },
        { timeoutMs: waitMs + 10_000 },
      );
      if (res.done) return runFromWire(res.run);
      if (Date.now() >= deadline) throw new Error(`workflow run ${runId} did not finish within ${timeout}`);
    }
  }

  /**
   * Cancels a PENDING, SLEEPING or RUNNING run: it ends CANCELLED at once and
   * the worker holding it is told, so its handler's `ctx.signal` aborts.
   * Its children are cancelled with it unless started with
   * `cancelWithParent: false`. Idempotent: `alreadyCancelled` when it was so
   * already.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   * @throws {@link BatonError} FAILED_PRECONDITION when it already finished otherwise (COMPLETED, FAILED, TERMINATED).
   */
  async cancel(runId: string): Promise<{ alreadyCancelled: boolean; run: WorkflowRun }> {
    const res = await this.call('workflow', 'Cancel', { namespace: this.namespace, runId });
    return { alreadyCancelled: !!res.alreadyCancelled, run: runFromWire(res.run) };
  }

  /**
   * Operator action (an admin key): stops a PENDING, SLEEPING or RUNNING run
   * for good, at once, with no cleanup: its handler's ctx.signal aborts and
   * nothing it does afterwards counts. The run ends TERMINATED with `reason`
   * as its error; `alreadyTerminated` when it was so already.
   * FAILED_PRECONDITION for a run that finished otherwise.
   *
   * @throws {@link BatonError} PERMISSION_DENIED without an admin key; NOT_FOUND when there is no such run.
   * @throws {@link BatonError} FAILED_PRECONDITION when it finished otherwise.
   */
  terminate(runId: string, reason: string): Promise<{ alreadyTerminated: boolean; run: WorkflowRun }> {
    return this.operator.terminate(runId, reason);
  }

  /**
   * Operator action (an admin key): sets a FAILED run going again from where
   * it failed. Completed steps are kept (they replay from their outputs and
   * never run again); steps that did not complete run again from their first
   * attempt, and the run's retry policy and timeout start afresh.
   * FAILED_PRECONDITION for a run that is not FAILED; ALREADY_EXISTS when
   * another live run took its externalId meanwhile.
   *
   * @throws {@link BatonError} PERMISSION_DENIED without an admin key; NOT_FOUND when there is no such run.
   * @throws {@link BatonError} FAILED_PRECONDITION when the run is not FAILED.
   * @throws {@link BatonError} ALREADY_EXISTS when another live run took its `externalId` meanwhile.
   */
  retry(runId: string, options: { reason?: string } = {}): Promise<WorkflowRun> {
    return this.operator.retry(runId, options);
  }

  /**
   * Operator action (an admin key): sends a run, in any state, back to before
   * step `stepId`: that step and every later one are deleted and run again,
   * the steps before it are kept. A RUNNING run is taken from its worker at
   * once (its handler's ctx.signal aborts). INVALID_ARGUMENT (field stepId)
   * when the run recorded no such step.
   *
   * @throws {@link BatonError} PERMISSION_DENIED without an admin key; NOT_FOUND when there is no such run.
   * @throws {@link BatonError} INVALID_ARGUMENT (field `stepId`) when the run recorded no such step.
   */
  reset(runId: string, options: ResetOptions): Promise<WorkflowRun> {
    return this.operator.reset(runId, options);
  }

  /**
   * What was done to the run through the API (cancel, terminate, retry, reset), oldest first.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   */
  history(runId: string): Promise<RunHistoryEvent[]> {
    return this.operator.history(runId);
  }

  /**
   * Sends signal `name` with `payload` (JSON, or bytes) to a run: by its id,
   * or `{ externalId }` for the live run holding that key. It is stored, in
   * order, until a `ctx.waitForSignal(name)` of the run takes it (each signal
   * reaches exactly one wait), and wakes the run if it waits for that name.
   * Throws NOT_FOUND when there is no such run (by external id: no live one)
   * and FAILED_PRECONDITION (reason SIGNAL_RUN_FINISHED) when it has finished.
   * A send whose reply was lost is repeated with the same `requestId`, so
   * the run receives it once; pass your own `requestId` to make your own
   * retries of the call safe too.
   *
   * @throws {@link BatonError} NOT_FOUND when there is no such run (by external id: no live one).
   * @throws {@link BatonError} FAILED_PRECONDITION (reason SIGNAL_RUN_FINISHED) when the run has finished.
   * @throws {@link BatonError} INVALID_ARGUMENT (field `run`) when `run` is neither an id nor `{ externalId }`;
   *   PAYLOAD_TOO_LARGE for a payload over the limit.
   */
  signal(run: SignalTarget, name: string, payload?: unknown, options: SignalOptions = {}): Promise<SignalSent> {
    checkOptions(options, ['requestId'], 'options');
    return sendSignal(this.transport, this.namespace, run, name, payload, options, {
      traceparent: activeTraceparent(),
    });
  }

  /**
   * Deletes a finished run with its payloads and steps.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   * @throws {@link BatonError} FAILED_PRECONDITION when the run has not finished (cancel it first).
   */
  async delete(runId: string): Promise<void> {
    await this.call('workflow', 'Delete', { namespace: this.namespace, runId });
  }

  /**
   * Every recorded step of a run, in execution order.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such run.
   */
  async steps(runId: string): Promise<StepRecord[]> {
    const all: StepRecord[] = [];
    let pageToken = '';
    do {
      const res = await this.call('workflow', 'ListSteps', {
        namespace: this.namespace,
        runId,
        pageSize: 100,
        pageToken,
      });
      all.push(...(res.steps ?? []).map(stepFromWire));
      pageToken = res.nextPageToken ?? '';
    } while (pageToken);
    return all;
  }

  /** The namespace's registered workers (of one queue, with `queue`): status, slots, last heartbeat. */
  async workers(options: { queue?: string } = {}): Promise<WorkerInfo[]> {
    const res = await this.call('admin', 'ListWorkers', {
      namespace: this.namespace,
      queue: options.queue ?? '',
    });
    return (res.workers ?? []).map(workerFromWire);
  }

  /**
   * How many runs of a queue are PENDING, RUNNING and SLEEPING now.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such queue.
   */
  async queueStats(queue: string): Promise<QueueStats> {
    const res = await this.call('admin', 'QueueStats', { namespace: this.namespace, queue });
    return {
      namespace: res.namespace ?? '',
      queue: res.queue ?? '',
      pending: res.pending ?? 0,
      running: res.running ?? 0,
      sleeping: res.sleeping ?? 0,
    };
  }

  /** Closes the connection; calls made afterwards open a new one. */
  close(): void {
    this.transport.close();
  }

  private call<S extends ServiceName, M extends UnaryMethod<S>>(
    service: S,
    method: M,
    request: RequestOf<S, M>,
    options?: CallOptions,
  ) {
    // The server's span for the call joins the caller's trace, if any.
    return sendChecked(this.transport, service, method, request, { ...options, traceparent: activeTraceparent() });
  }
}
