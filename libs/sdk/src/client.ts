import { parseDuration, RunStatus } from '@baton/contracts';
import type { Duration, QueueStats } from '@baton/contracts';
import type { RequestOf, ServiceName, UnaryMethod } from '@baton/proto';
import { WorkflowCancelledError, WorkflowFailedError } from './errors';
import { encodePayload } from './payload';
import { toRetryPolicy } from './retry-options';
import type { RetryOptions } from './retry-options';
import { Schedules, checkOptions, malformedText, sendChecked } from './schedules';
import { StartBatcher } from './start-batcher';
import { Transport } from './transport';
import type { CallOptions, ConnectionOptions } from './transport';
import { activeTraceparent, traceStart } from './tracing';
import { runFromWire, stepFromWire, workerFromWire } from './views';
import type { StepRecord, WorkerInfo, WorkflowRun } from './views';

/** Where the client connects; `apiKey` and `tls` say how (see ConnectionOptions). */
export interface ClientOptions extends ConnectionOptions {
  /** host:port of the frontend's gRPC endpoint. Default `localhost:50051`. */
  address?: string;
  namespace?: string;
}

export interface StartOptions {
  queue?: string;
  /** Idempotency key: while a run with this key is not terminal, starting again returns it. */
  externalId?: string;
  /** The run's retry policy: `initialInterval` / `maxInterval` as durations (or the `...Ms` names). */
  retry?: RetryOptions;
  /** Deadline for the whole run; past it the run fails with DEADLINE_EXCEEDED. */
  timeout?: Duration;
  correlationId?: string;
  traceId?: string;
}

export interface StartedRun {
  id: string;
  /** true when `externalId` matched a live run: that run is returned, nothing new started. */
  alreadyExists: boolean;
  run: WorkflowRun;
}

export interface ListOptions {
  status?: RunStatus;
  workflowType?: string;
  queue?: string;
  pageSize?: number;
  pageToken?: string;
}

const START_OPTIONS: ReadonlyArray<keyof StartOptions> = [
  'queue',
  'externalId',
  'retry',
  'timeout',
  'correlationId',
  'traceId',
];
const LIST_OPTIONS: ReadonlyArray<keyof ListOptions> = ['status', 'workflowType', 'queue', 'pageSize', 'pageToken'];

/** Starts and inspects workflow runs. */
export class Client {
  readonly namespace: string;
  /** Cron schedules of this namespace. */
  readonly schedules: Schedules;
  private readonly transport: Transport;
  private readonly starts: StartBatcher;

  constructor(options: ClientOptions = {}) {
    this.transport = new Transport(options.address ?? 'localhost:50051', options);
    this.namespace = options.namespace ?? 'default';
    this.schedules = new Schedules(this.transport, this.namespace);
    this.starts = new StartBatcher(this.transport);
  }

  /**
   * Starts a run. Starts made while another of this client's starts is in
   * flight are sent together in one call; each still succeeds or fails alone.
   * With an OpenTelemetry tracer provider registered, the start is span
   * `baton.start <type>` (a child of the active span, if any) and the run,
   * wherever and however often it executes, continues its trace.
   */
  async start(workflowType: string, input?: unknown, options: StartOptions = {}): Promise<StartedRun> {
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
    };
    const malformed = malformedText(request);
    if (malformed) throw malformed;
    const res = await traceStart(this.namespace, workflowType, (traceparent) =>
      this.starts.start(traceparent ? { ...request, traceparent } : request, { traceparent }),
    );
    const run = runFromWire(res.run);
    return { id: run.id, alreadyExists: !!res.alreadyExists, run };
  }

  async get<TInput = unknown, TOutput = unknown>(runId: string): Promise<WorkflowRun<TInput, TOutput>> {
    return runFromWire<TInput, TOutput>(await this.call('workflow', 'Get', { namespace: this.namespace, runId }));
  }

  async list(options: ListOptions = {}): Promise<{ runs: WorkflowRun[]; nextPageToken: string | null }> {
    checkOptions(options, LIST_OPTIONS, 'options');
    const res = await this.call('workflow', 'List', { namespace: this.namespace, ...options });
    return { runs: (res.runs ?? []).map(runFromWire), nextPageToken: res.nextPageToken || null };
  }

  /**
   * Waits for the run to finish and returns its output; throws
   * WorkflowFailedError or WorkflowCancelledError. The server answers the
   * moment the run turns terminal.
   */
  async result<TOutput = unknown>(runId: string, options: { timeout?: Duration } = {}): Promise<TOutput> {
    const run = await this.waitForTerminal(runId, options.timeout);
    if (run.status === RunStatus.COMPLETED) return run.output as TOutput;
    if (run.status === RunStatus.CANCELLED) throw new WorkflowCancelledError(runId);
    throw new WorkflowFailedError(
      runId,
      run.error?.message ?? 'workflow failed',
      run.error?.type ?? null,
      run.error?.stack ?? null,
    );
  }

  /** Waits for a terminal state and returns the run whatever that state is. */
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

  async cancel(runId: string): Promise<{ alreadyCancelled: boolean; run: WorkflowRun }> {
    const res = await this.call('workflow', 'Cancel', { namespace: this.namespace, runId });
    return { alreadyCancelled: !!res.alreadyCancelled, run: runFromWire(res.run) };
  }

  /** Deletes a finished run with its payloads and steps. */
  async delete(runId: string): Promise<void> {
    await this.call('workflow', 'Delete', { namespace: this.namespace, runId });
  }

  /** Every recorded step of a run, in execution order. */
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

  async workers(options: { queue?: string } = {}): Promise<WorkerInfo[]> {
    const res = await this.call('admin', 'ListWorkers', {
      namespace: this.namespace,
      queue: options.queue ?? '',
    });
    return (res.workers ?? []).map(workerFromWire);
  }

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
