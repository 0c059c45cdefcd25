import { hostname as osHostname } from 'node:os';
import { BatonError, ErrorCode, ErrorReason, SDK_DEFAULTS } from '@baton/contracts';
import type { Task } from '@baton/proto';
import {
  CancelledError,
  DeadlineExceededError,
  NonRetryableError,
  RunAbandonedError,
  WorkerStoppedError,
  isInfrastructureStop,
  isRefusedOutput,
} from './errors';
import { CancellationFeed } from './cancellations';
import { Suspension, WorkflowContext, checkHistoryConsumed, errorInfo } from './context';
import type { UnsentStep } from './context';
import { LeaseClock, mutate, runFinished } from './lease';
import type { RunLink } from './lease';
import { decodePayload, encodePayload } from './payload';
import { nextPoll } from './poll-slots';
import type { PollReservation } from './poll-slots';
import { traceCompletion, traceRun, traceRunFailed } from './tracing';
import { addressOf } from './address';
import { Transport } from './transport';
import type { ConnectionOptions } from './transport';
import { WorkerCalls } from './worker-calls';
import { WorkerMetrics } from './worker-metrics';
import { isWorkflowDefinition } from './workflows';
import type { WorkflowDefinition } from './workflows';
import type { Registry } from 'prom-client';

/**
 * A workflow's code: called with the run's context and its input (decoded
 * from JSON, not checked against `TInput`), it returns the run's output. It is
 * called again from the top on every replay, so everything with an effect goes
 * in `ctx.step`. Throwing fails the attempt (retried by the run's policy;
 * `NonRetryableError` fails the run at once).
 */
export type WorkflowHandler<TInput = unknown, TOutput = unknown> = (
  ctx: WorkflowContext,
  input: TInput,
) => Promise<TOutput>;

/** A handler of any input: the input is whatever the run was started with, decoded from JSON unchecked. */
type AnyHandler = WorkflowHandler<never, unknown>;

/** Where and how the worker connects (`apiKey` and `tls`: see ConnectionOptions), and what it runs. */
export interface WorkerOptions extends ConnectionOptions {
  /** host:port of the frontend's gRPC endpoint. Default: BATON_ADDRESS, else `localhost:50051`. */
  address?: string;
  /** The namespace whose runs it takes. Default `default`. */
  namespace?: string;
  /** The task queue it polls. Default `default`. */
  queue?: string;
  /** Most runs held at once. Default 100. */
  maxConcurrent?: number;
  /** Most runs of one type held at once. */
  typeConcurrency?: Record<string, number>;
  /**
   * Most polls outstanding at once. Each asks for up to the slots no other
   * poll has reserved, so one poll can fill the worker; the others wait for
   * capacity. Default min(maxConcurrent, 10).
   */
  maxConcurrentPolls?: number;
  /** How long stop() waits for running handlers before abandoning them. Default 30 s. */
  shutdownGraceMs?: number;
  /** Shown in `client.workers()`. Default the machine's host name (`name#2` for a second worker of a queue). */
  hostname?: string;
  /** Shown in `client.workers()`. Default this process's id. */
  pid?: number;
  /** Your build's version, shown in `client.workers()`. */
  version?: string;
  /** Your own labels, shown in `client.workers()`. */
  labels?: Record<string, string>;
  /** Receives errors the worker handled itself (failed polls, lost leases). */
  onError?: (err: unknown) => void;
  /** A prom-client Registry to add the worker's metrics to (see `worker.metrics`); a new one by default. */
  metrics?: Registry;
}

interface Execution {
  /** The task as PollTask handed it out (the generated message). */
  task: Task;
  runId: string;
  /** The handler's ctx.signal: aborts on cancel, deadline, worker stop and when the run is given up. */
  controller: AbortController;
  /**
   * Ends the worker's own mutations for the run (CompleteWorkflow,
   * FailWorkflow): cancel, worker stop, given up. Not the deadline, whose
   * failure must still be recorded.
   */
  giveUp: AbortController;
  ctx?: WorkflowContext;
  done: Promise<void>;
}

// Several Worker objects in one process on one queue must register as distinct workers.
const instancesPerQueue = new Map<string, number>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls a queue (each poll asks for as many tasks as the worker has free
 * slots), runs workflow handlers within its concurrency limits, heartbeats to
 * keep its leases, and replays runs from their recorded history.
 *
 * Once started, what fails in the background (a poll, a heartbeat, a lost
 * lease) is retried or handed back and reported to `onError`, never thrown.
 */
export class Worker {
  private readonly transport: Transport;
  /** The runs' mutations: concurrent ones travel together (see WorkerCalls). */
  private readonly runCalls: WorkerCalls;
  private readonly cancellations: CancellationFeed;
  private readonly meter: WorkerMetrics;
  private readonly handlers = new Map<string, AnyHandler>();
  private readonly active = new Map<string, Execution>();
  private readonly options: Required<Pick<WorkerOptions, 'namespace' | 'queue' | 'maxConcurrent' | 'shutdownGraceMs'>> &
    WorkerOptions;
  private readonly identity: { hostname: string; pid: number };
  private id: string | null = null;
  private heartbeatMs = 5_000;
  private pollTimeoutMs = 30_000;
  private polling = false;
  /** Each outstanding poll and what it reserved: its types and as many run slots as it asked tasks for. */
  private inflightPolls = new Map<AbortController, PollReservation>();
  private heartbeatTimer?: NodeJS.Timeout;
  private ackTimer?: NodeJS.Timeout;
  /** Runs handed over since the last acknowledgement was scheduled. */
  private readonly unacknowledged = new Set<string>();
  private heartbeatInFlight?: Promise<void>;
  private heartbeatAgain = false;
  private closed = false;
  private readonly clock = new LeaseClock();
  private pollLoops: Promise<void>[] = [];
  private capacityWaiters: Array<() => void> = [];
  private registering?: Promise<void>;
  private stopping?: Promise<void>;

  /**
   * Connects when started, not here.
   *
   * @throws {@link BatonError} INVALID_ARGUMENT (field `tls`) when `tls.cert` and `tls.key` are not given together.
   */
  constructor(options: WorkerOptions = {}) {
    this.options = {
      namespace: 'default',
      queue: 'default',
      maxConcurrent: 100,
      shutdownGraceMs: 30_000,
      ...options,
    };
    this.transport = new Transport(addressOf(options.address), options);
    this.runCalls = new WorkerCalls(this.transport);
    this.meter = new WorkerMetrics(options.metrics, this.options.namespace, this.options.queue);
    this.cancellations = new CancellationFeed({
      transport: this.transport,
      namespace: this.options.namespace,
      cancelled: (runId) => this.cancelled(runId),
      report: (err) => this.report(err),
    });
    const key = `${this.options.namespace}\u0000${this.options.queue}`;
    const n = (instancesPerQueue.get(key) ?? 0) + 1;
    instancesPerQueue.set(key, n);
    this.identity = {
      hostname: options.hostname ?? (n === 1 ? osHostname() : `${osHostname()}#${n}`),
      pid: options.pid ?? process.pid,
    };
  }

  /** The server-assigned id, once started. */
  get workerId(): string | null {
    return this.id;
  }

  /** How many runs it is executing now. */
  get activeCount(): number {
    return this.active.size;
  }

  /** The worker's Prometheus metrics (slots, poll latency, step durations), for the application to serve. */
  get metrics(): Registry {
    return this.meter.registry;
  }

  /**
   * Runs `handler` for the runs of `workflowType` on this worker's queue; a
   * second registration of a type replaces the first. Register before
   * `start()`: the worker tells the server its types when it registers.
   * Returns the worker, so calls chain.
   */
  register<TInput = unknown, TOutput = unknown>(workflowType: string, handler: WorkflowHandler<TInput, TOutput>): this;
  /** Runs a {@link WorkflowDefinition}'s handler for the runs of its type (see {@link defineWorkflow}). */
  register<TInput, TOutput>(workflow: WorkflowDefinition<TInput, TOutput>): this;
  register(workflow: string | WorkflowDefinition<never, unknown>, handler?: AnyHandler): this {
    if (isWorkflowDefinition(workflow)) this.handlers.set(workflow.workflowType, workflow.handler);
    else this.handlers.set(workflow, handler!);
    return this;
  }

  /**
   * Registers the worker with the server (its queue, types and slots) and
   * starts polling; resolves once registered.
   *
   * @throws Error when no workflow type is registered.
   * @throws {@link BatonError} as any call (see {@link Client}): the server unreachable within
   *   the deadline, a key without the worker role or namespace, a type name
   *   over its limit (INVALID_ARGUMENT).
   */
  async start(): Promise<void> {
    if (this.handlers.size === 0) throw new Error('register at least one workflow type before start()');
    await this.registerWithServer();
    this.polling = true;
    this.meter.capacity(this.options.maxConcurrent);
    this.scheduleHeartbeat();
    const loops = Math.max(1, Math.min(this.options.maxConcurrentPolls ?? 10, this.options.maxConcurrent));
    this.pollLoops = Array.from({ length: loops }, () => this.pollLoop());
  }

  /** Stops taking work (the server also refuses it), finishes what it holds, then deregisters. */
  async drain(): Promise<void> {
    if (this.id) {
      await this.transport
        .call('worker', 'Deregister', { namespace: this.options.namespace, workerId: this.id, drain: true })
        .catch((err: unknown) => this.report(err));
    }
    await this.stop();
  }

  /**
   * Graceful stop: no new polls (outstanding ones are cancelled and any claim
   * they made is released by the server), running handlers get
   * `shutdownGraceMs` to finish, then the worker deregisters.
   */
  stop(): Promise<void> {
    return (this.stopping ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.polling = false;
    for (const controller of this.inflightPolls.keys()) controller.abort();
    this.wakeCapacityWaiters();
    await Promise.allSettled(this.pollLoops);
    const finished = Promise.allSettled([...this.active.values()].map((e) => e.done));
    let graceTimer: NodeJS.Timeout | undefined;
    const grace = new Promise<boolean>(
      (resolve) => (graceTimer = setTimeout(() => resolve(true), this.options.shutdownGraceMs)),
    );
    // The grace timer must not keep the process alive once everything has finished.
    const graceExpired = await Promise.race([finished.then(() => false), grace]);
    clearTimeout(graceTimer);
    if (graceExpired) {
      // Handed back, not failed: deregistering releases the runs to another worker.
      for (const execution of this.active.values()) this.abort(execution, new WorkerStoppedError(execution.runId));
    }
    this.closed = true;
    if (this.id) this.meter.capacity(-this.options.maxConcurrent);
    this.cancellations.close();
    clearTimeout(this.heartbeatTimer);
    clearTimeout(this.ackTimer);
    if (this.id) {
      // Best effort and bounded: with the server away, stop() must not hang on it; the
      // server then finds the worker stale and hands back whatever it still held.
      await this.transport
        .call(
          'worker',
          'Deregister',
          { namespace: this.options.namespace, workerId: this.id, drain: false },
          { timeoutMs: SDK_DEFAULTS.deregisterTimeoutMs },
        )
        .catch((err: unknown) => this.report(err));
    }
    this.transport.close();
  }

  private async registerWithServer(): Promise<void> {
    if (this.registering) return this.registering;
    this.registering = (async () => {
      const res = await this.transport.call('worker', 'Register', {
        namespace: this.options.namespace,
        queue: this.options.queue,
        workflowTypes: [...this.handlers.keys()],
        maxConcurrent: this.options.maxConcurrent,
        typeConcurrency: this.options.typeConcurrency ?? {},
        hostname: this.identity.hostname,
        pid: this.identity.pid,
        version: this.options.version ?? '',
        labels: this.options.labels ?? {},
      });
      if (!res.workerId) throw new BatonError(ErrorCode.INTERNAL, 'the server registered this worker without an id');
      this.id = res.workerId;
      // Pushes cancels of this id's runs; a new id (registered again) replaces the old feed.
      this.cancellations.watch(res.workerId);
      // Zero or absent (an older server): keep the defaults.
      this.heartbeatMs = res.heartbeatIntervalMs || this.heartbeatMs;
      this.pollTimeoutMs = res.pollTimeoutMs || this.pollTimeoutMs;
      this.clock.configure(res.leaseDurationMs ?? 0, res.workerStaleThresholdMs ?? 0);
      this.clock.touch();
    })();
    try {
      await this.registering;
    } finally {
      this.registering = undefined;
    }
  }

  /** The next poll's types and task count, counting the slots polls already outstanding reserved; null: no room. */
  private planPoll(): PollReservation | null {
    const running = new Map<string, number>();
    for (const { task } of this.active.values()) {
      const type = task.workflowType ?? '';
      running.set(type, (running.get(type) ?? 0) + 1);
    }
    return nextPoll({
      maxConcurrent: this.options.maxConcurrent,
      running,
      outstanding: this.inflightPolls.values(),
      handlerTypes: [...this.handlers.keys()],
      typeLimits: this.options.typeConcurrency,
    });
  }

  private async pollLoop(): Promise<void> {
    let failures = 0;
    while (this.polling) {
      // Planned afresh on every turn: a loop woken by capacity finds what the others reserved meanwhile.
      const poll = this.planPoll();
      if (!poll) {
        await new Promise<void>((resolve) => this.capacityWaiters.push(resolve));
        continue;
      }
      const controller = new AbortController();
      this.inflightPolls.set(controller, poll);
      const polled = this.meter.pollStarted();
      try {
        const res = await this.transport.call(
          'worker',
          'PollTask',
          {
            namespace: this.options.namespace,
            queue: this.options.queue,
            workerId: this.id ?? undefined,
            workflowTypes: [...poll.types],
            maxTasks: poll.slots,
          },
          { timeoutMs: this.pollTimeoutMs + 10_000, signal: controller.signal },
        );
        polled(res.task ? 'task' : 'empty');
        failures = 0;
        this.inflightPolls.delete(controller);
        this.runPolled(poll, [...(res.task ? [res.task] : []), ...(res.moreTasks ?? [])]);
      } catch (err) {
        this.inflightPolls.delete(controller);
        if (!this.polling) break;
        polled('error');
        if (err instanceof BatonError && err.reason === ErrorReason.WORKER_DRAINING) {
          // Drained from outside (API or operator): stop asking; what it holds still finishes.
          this.polling = false;
          break;
        }
        if (err instanceof BatonError && err.reason === ErrorReason.WORKER_REREGISTER) {
          await this.recoverRegistration(err);
          continue;
        }
        this.report(err);
        failures++;
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      } finally {
        this.wakeCapacityWaiters();
      }
    }
  }

  /** Runs every task a poll claimed, even more than it asked for: a claimed task dropped would wait for its lease. */
  private runPolled(poll: PollReservation, tasks: Task[]): void {
    if (tasks.length > poll.slots) {
      this.report(
        new BatonError(
          ErrorCode.INTERNAL,
          `the server handed out ${tasks.length} tasks for a poll that asked for at most ${poll.slots}`,
        ),
      );
    }
    for (const task of tasks) {
      this.clock.touch();
      this.acknowledgeSoon(this.execute(task));
    }
  }

  private async recoverRegistration(cause: unknown): Promise<void> {
    this.report(cause);
    try {
      await this.registerWithServer();
    } catch (err) {
      this.report(err);
      await sleep(1_000);
    }
  }

  private wakeCapacityWaiters(): void {
    const waiters = this.capacityWaiters;
    this.capacityWaiters = [];
    for (const wake of waiters) wake();
  }

  private scheduleHeartbeat(): void {
    if (this.closed) return;
    this.heartbeatTimer = setTimeout(() => {
      void this.beat().finally(() => {
        if (!this.stopping || this.active.size > 0) this.scheduleHeartbeat();
      });
    }, this.heartbeatMs);
  }

  /**
   * Delivery acknowledgement: the server gives a claim a short first lease
   * and extends it once a heartbeat lists the run, so a task is reported soon
   * after it arrives. Debounced, so a burst of tasks costs one heartbeat and a
   * short run none.
   */
  private acknowledgeSoon(runId: string): void {
    this.unacknowledged.add(runId);
    if (this.ackTimer || this.closed) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      // A run that finished or was parked meanwhile needs no acknowledgement: its own
      // mutation proved the delivery. Only runs still held are worth a heartbeat.
      const held = [...this.unacknowledged].some((id) => this.active.has(id));
      this.unacknowledged.clear();
      if (held) void this.beat(true);
    }, SDK_DEFAULTS.deliveryAckDebounceMs);
  }

  /**
   * One heartbeat at a time. An acknowledgement asked for while one is in
   * flight (it may have left before the newest task arrived) follows it at
   * once; a periodic tick just waits for it.
   */
  private beat(acknowledge = false): Promise<void> {
    if (this.heartbeatInFlight) {
      this.heartbeatAgain ||= acknowledge;
      return this.heartbeatInFlight;
    }
    this.heartbeatInFlight = (async () => {
      do {
        this.heartbeatAgain = false;
        await this.heartbeat();
      } while (this.heartbeatAgain && !this.closed);
    })().finally(() => (this.heartbeatInFlight = undefined));
    return this.heartbeatInFlight;
  }

  /** Never throws: a failed heartbeat is reported and the next tick tries again. */
  private async heartbeat(): Promise<void> {
    if (!this.id || this.closed) return;
    try {
      const res = await this.transport.call(
        'worker',
        'Heartbeat',
        { namespace: this.options.namespace, workerId: this.id, activeRunIds: [...this.active.keys()] },
        { timeoutMs: Math.max(1_000, this.heartbeatMs) },
      );
      this.clock.touch();
      for (const runId of res.cancelledRunIds ?? []) this.cancelled(runId);
      if (res.action === 'DRAIN') {
        this.polling = false;
        for (const controller of this.inflightPolls.keys()) controller.abort();
      } else if (res.action === 'REREGISTER' && !this.stopping) {
        await this.recoverRegistration(new Error('server asked this worker to register again'));
      }
    } catch (err) {
      this.report(err);
    }
  }

  /** Starts the task's handler; returns the run's id. */
  private execute(task: Task): string {
    const runId = task.runId ?? '';
    const execution: Execution = {
      task,
      runId,
      controller: new AbortController(),
      giveUp: new AbortController(),
      done: Promise.resolve(),
    };
    // The run was taken from this worker (an operator's reset) and handed back to it before the
    // old execution unwound: that one is over, and must not unregister this one when it ends.
    const previous = this.active.get(runId);
    if (previous) this.abort(previous, new CancelledError(runId));
    this.active.set(runId, execution);
    this.meter.slotTaken(1);
    // Span `baton.run <type>`, in the trace the run was started in.
    execution.done = traceRun(task, this.id, () => this.run(execution)).finally(() => {
      this.meter.slotTaken(-1);
      if (this.active.get(runId) === execution) this.active.delete(runId);
      this.wakeCapacityWaiters();
    });
    return runId;
  }

  /** A run it holds is no longer its own (reported by a heartbeat, or pushed on the cancellation feed). */
  private cancelled(runId: string): void {
    const execution = this.active.get(runId);
    if (execution) this.abort(execution, new CancelledError(runId));
  }

  /** Ends a run's execution here: its handler (ctx.signal) and the worker's own mutations for it. */
  private abort(execution: Execution, reason: Error): void {
    execution.ctx?.stop(reason);
    execution.controller.abort(reason);
    execution.giveUp.abort(reason);
  }

  private async run(execution: Execution): Promise<void> {
    const { task, runId, controller } = execution;
    const link: RunLink = {
      transport: this.runCalls,
      lease: {
        namespace: task.namespace ?? '',
        runId,
        workerId: this.id!,
        leaseEpoch: task.leaseEpoch ?? 0,
        leaseToken: task.leaseToken ?? '',
      },
      clock: this.clock,
      abandon: (err) => {
        this.report(err);
        this.abort(execution, err);
      },
      cancelled: () => this.cancelled(runId),
      // Once per mutation, not per retry: an outage is reported without flooding onError.
      onTransient: (err, tries) => {
        if (tries === 1) this.report(err);
      },
    };
    const handler = this.handlers.get(task.workflowType ?? '');
    let deadlineTimer: NodeJS.Timeout | undefined;
    if (task.deadlineAtMs !== undefined) {
      const remaining = task.deadlineAtMs - Date.now();
      deadlineTimer = setTimeout(() => controller.abort(new DeadlineExceededError(runId)), Math.max(0, remaining));
    }
    const ctx = this.meter.context(task, link, controller.signal);
    execution.ctx = ctx;
    try {
      if (!handler) throw new NonRetryableError(`no handler registered for workflow type "${task.workflowType}"`);
      const aborted = new Promise<never>((_, reject) => {
        const onAbort = () => reject(controller.signal.reason);
        if (controller.signal.aborted) onAbort();
        else controller.signal.addEventListener('abort', onAbort, { once: true });
      });
      aborted.catch(() => undefined);
      // A handler that ignores ctx.signal must not hold the run past its deadline or cancel.
      const output = await Promise.race([handler(ctx, decodePayload<never>(task.input)), aborted]);
      // Parked (sleep, step retry) or given up while the handler ran: what it returned means nothing.
      if (ctx.suspended) return;
      checkHistoryConsumed(ctx);
      await this.finish(execution, link, ctx, output);
    } catch (err) {
      const thrown = err instanceof Error ? err : new Error(String(err));
      // A step that completed before the failure stays completed: a retry replays it, never reruns it.
      await this.recordUnsentStep(execution, link, ctx);
      ctx.stop(thrown);
      // The first reason the execution stopped decides: once it was parked or given up, whatever
      // the handler threw afterwards (perhaps that very error, caught and wrapped) is not a failure.
      const reason = ctx.suspended ?? thrown;
      if (reason instanceof Suspension || reason instanceof CancelledError || isInfrastructureStop(reason)) {
        // Step bodies still running beside the one that parked the run (parallel steps) may stop now.
        if (!controller.signal.aborted) controller.abort(reason);
        return;
      }
      await this.fail(execution, link, reason === thrown ? err : reason);
    } finally {
      clearTimeout(deadlineTimer);
    }
  }

  private async finish(execution: Execution, link: RunLink, ctx: WorkflowContext, output: unknown): Promise<void> {
    // The last step's record travels with the completion: one call, one commit.
    const lastStep = await ctx.takeUnsentStep();
    try {
      // A repeat after a lost reply that finds the run finished: the first try completed it.
      await traceCompletion(execution.runId, () =>
        mutate(
          link,
          'CompleteWorkflow',
          { output: encodePayload(output), ...(lastStep ? { lastStep } : {}) },
          {
            signal: execution.giveUp.signal,
            repeatSucceeded: runFinished,
          },
        ),
      );
    } catch (err) {
      if (isRefusedOutput(err)) {
        if (lastStep) await this.sendStep(execution, link, lastStep);
        await this.fail(execution, link, new NonRetryableError(err.message, err.code));
        return;
      }
      throw err;
    }
  }

  /** Before a failure is recorded: the completed step whose record was still waiting. Never throws. */
  private async recordUnsentStep(execution: Execution, link: RunLink, ctx: WorkflowContext): Promise<void> {
    if (execution.giveUp.signal.aborted) return;
    const step = await ctx.takeUnsentStep().catch(() => null);
    if (step) await this.sendStep(execution, link, step);
  }

  private async sendStep(execution: Execution, link: RunLink, step: UnsentStep): Promise<void> {
    await mutate(link, 'CompleteStep', step, { signal: execution.giveUp.signal }).catch(() => undefined);
  }

  /** Records a failure of the user's code (or its deadline). Never throws. */
  private async fail(execution: Execution, link: RunLink, err: unknown): Promise<void> {
    traceRunFailed(err);
    try {
      await mutate(
        link,
        'FailWorkflow',
        { error: errorInfo(err) },
        {
          signal: execution.giveUp.signal,
          repeatSucceeded: runFinished,
        },
      );
    } catch (failErr) {
      // Given up or stopped: already reported, or nothing to report.
      if (!(failErr instanceof RunAbandonedError) && !execution.giveUp.signal.aborted) this.report(failErr);
    }
  }

  private report(err: unknown): void {
    this.options.onError?.(err);
  }
}
