import { Inject, Injectable, Logger } from '@nestjs/common';
import { BatonError, LIMITS, Patterns, RunStatus, WorkerStatus, payloadMessage, stepMessage } from '@baton/contracts';
import type {
  BatonConfig,
  ErrorInfo,
  Payload,
  PollReply,
  PollRequest,
  PolledTask,
  RetryPolicy,
} from '@baton/contracts';
import { MessageBus, RunEvents } from '@baton/messaging';
import { ClaimRepository, ExecutionRepository, WorkersRepository } from '@baton/persistence';
import type { CompletedStep, FailureOutcome, Lease, RegisterWorkerCommand, StepBegin } from '@baton/persistence';
import { taskFromBus } from '@baton/proto';
import type { Task } from '@baton/proto';
import { BATON_CONFIG, BatonMetrics } from '@baton/runtime';
import { WorkflowsService } from '../workflows/workflows.service';

export interface PollCommand {
  namespace: string;
  queue: string;
  workerId: string;
  workflowTypes: string[];
  /** Most tasks to hand out at once (1 ≤ maxTasks ≤ LIMITS.pollMaxTasks). */
  maxTasks: number;
}

export type HeartbeatAction = 'OK' | 'REREGISTER' | 'DRAIN';

/** Extra time the frontend waits for matching beyond the poll timeout before giving up on the reply. */
const POLL_REPLY_GRACE_MS = 5_000;

/** The worker protocol (DESIGN §6), shared by the gRPC and HTTP controllers. */
@Injectable()
export class WorkerProtocolService {
  private readonly logger = new Logger(WorkerProtocolService.name);

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly workers: WorkersRepository,
    private readonly claims: ClaimRepository,
    private readonly execution: ExecutionRepository,
    private readonly workflows: WorkflowsService,
    private readonly bus: MessageBus,
    private readonly events: RunEvents,
    private readonly metrics: BatonMetrics,
  ) {}

  async register(cmd: RegisterWorkerCommand) {
    const worker = await this.workers.register(cmd);
    // A re-registration keeps the id but may change its limits: matching reads the row again.
    this.events.workerChanged(worker.id);
    return {
      worker,
      heartbeatIntervalMs: this.config.heartbeatIntervalMs,
      pollTimeoutMs: this.config.pollTimeoutMs,
      leaseDurationMs: this.config.leaseDurationMs,
      workerStaleThresholdMs: this.config.workerStaleThresholdMs,
    };
  }

  async heartbeat(namespace: string, workerId: string, activeRunIds: string[]) {
    const result = await this.workers.heartbeat(namespace, workerId, activeRunIds, this.config.leaseDurationMs);
    const action: HeartbeatAction =
      result.status === null ? 'REREGISTER' : result.status === WorkerStatus.DRAINING ? 'DRAIN' : 'OK';
    return { action, cancelledRunIds: result.lostRunIds };
  }

  async deregister(namespace: string, workerId: string, drain: boolean) {
    const worker = await this.workers.deregister(namespace, workerId, drain);
    // Matching must refuse its next poll, not serve it from what it cached.
    this.events.workerChanged(worker.id);
    // Runs it still held were handed back: ring so another worker takes them now.
    if (!drain) this.ring(worker.namespace, worker.queue);
    return worker;
  }

  /**
   * Long poll through matching: up to `maxTasks` tasks, none when nothing
   * arrived in time. Claims for a caller that has gone away are released at
   * once (invariant 4); ones whose reply is lost in transit come back at
   * lease expiry.
   */
  async poll(cmd: PollCommand, callerGone: () => boolean): Promise<Task[]> {
    const request: PollRequest = { ...cmd, deadlineAt: Date.now() + this.config.pollTimeoutMs };
    const reply = await this.bus.request<PollReply>(
      Patterns.poll,
      request,
      this.config.pollTimeoutMs + POLL_REPLY_GRACE_MS,
    );
    if (reply.error) throw new BatonError(reply.error.code, reply.error.message, reply.error);
    const polled: PolledTask[] = reply.task ? [{ task: reply.task, payloadsOmitted: reply.payloadsOmitted }] : [];
    polled.push(...(reply.moreTasks ?? []));
    if (polled.length === 0) return [];
    const tasks = polled.map((p) => taskFromBus(p.task));
    const releaseAll = async () => {
      await Promise.all(tasks.map((task) => this.release(task.runId ?? '', cmd.workerId, task.leaseEpoch ?? 0)));
      return [];
    };
    // A hang-up that has already reached this process (an aborted HTTP request, a
    // cancelled gRPC call) may still wait in this turn of the event loop behind
    // the reply: let it be processed before deciding that the caller is there.
    await new Promise((resolve) => setImmediate(resolve));
    if (callerGone()) return releaseAll();
    await Promise.all(polled.map((p, i) => (p.payloadsOmitted ? this.loadPayloads(tasks[i]!) : undefined)));
    if (callerGone()) return releaseAll();
    return tasks;
  }

  /** Hands a claim back (the poll's caller is gone). */
  async release(runId: string, workerId: string, leaseEpoch: number): Promise<void> {
    const released = await this.claims.release({ runId, workerId, leaseEpoch });
    if (released) {
      this.metrics.claimReleased(runId, released, 'caller_gone');
      this.ring(released.namespace, released.queue);
    }
  }

  async beginStep(lease: Lease, stepId: string, seq: number): Promise<StepBegin> {
    return this.execution.beginStep(lease, stepId, seq);
  }

  async completeStep(lease: Lease, step: CompletedStep) {
    const completed = await this.execution.completeStep(lease, step);
    this.metrics.stepAttempt(lease.namespace, 'COMPLETED');
    return completed;
  }

  async failStep(lease: Lease, stepId: string, seq: number, error: ErrorInfo, retryPolicy: RetryPolicy | null) {
    const outcome: FailureOutcome = await this.execution.failStep(lease, stepId, seq, { ...error, retryPolicy });
    this.metrics.stepAttempt(lease.namespace, outcome.retry ? 'RETRYING' : 'FAILED');
    // Parked until retry_at: matching rings the queue then, not on its fallback tick.
    if (outcome.retry) this.events.workDue(lease.namespace, outcome.queue, outcome.retryAt);
    return outcome;
  }

  /**
   * `waitedMs`: how long the call waited in its worker before it was sent.
   * The sleep counts from when the run asked for it (its wake time is the
   * duration less that wait and the call's own wait here for its statement,
   * never before now), not a full duration from when the call happened to
   * arrive behind the worker's other calls, or to get a connection.
   */
  async sleep(
    lease: Lease,
    stepId: string,
    seq: number,
    durationMs: number,
    lastStep: CompletedStep | null = null,
    waitedMs = 0,
  ) {
    // Called as the call arrives: from here on the server's own clock counts.
    const askedAt = Date.now() - waitedMs;
    // Zero is a no-op: nothing is recorded (but the step before it) and the run keeps executing.
    if (durationMs === 0) {
      if (lastStep) await this.completeStep(lease, lastStep);
      return { suspended: false, wakeUpAt: null };
    }
    const { wakeUpAt, queue } = await this.execution.sleep(lease, stepId, seq, durationMs, lastStep, askedAt);
    if (lastStep) this.metrics.stepAttempt(lease.namespace, 'COMPLETED');
    // Due at the wake time: the watchdog wakes it then, and matching may claim it directly.
    this.events.timerDue('wake', wakeUpAt);
    this.events.workDue(lease.namespace, queue, wakeUpAt);
    return { suspended: true, wakeUpAt };
  }

  async completeWorkflow(lease: Lease, output: Payload | null, lastStep: CompletedStep | null = null) {
    if (output && output.data.length > LIMITS.payloadWarnBytes) {
      this.logger.warn(`run ${lease.runId} output is ${output.data.length} bytes`);
    }
    const finished = await this.execution.completeRun(lease, output, lastStep);
    if (lastStep) this.metrics.stepAttempt(lease.namespace, 'COMPLETED');
    this.metrics.runFinished(finished);
    this.workflows.runFinished(
      { id: lease.runId, namespace: lease.namespace, status: RunStatus.COMPLETED, parentQueue: finished.parentQueue },
      finished.run,
    );
  }

  async failWorkflow(lease: Lease, error: ErrorInfo) {
    const outcome = await this.execution.failRun(lease, error);
    if (outcome.finished) this.metrics.runFinished(outcome.finished);
    if (outcome.status === RunStatus.FAILED) {
      this.workflows.runFinished({
        id: lease.runId,
        namespace: lease.namespace,
        status: RunStatus.FAILED,
        parentQueue: outcome.finished?.parentQueue,
      });
    }
    if (outcome.retry) this.events.workDue(lease.namespace, outcome.queue, outcome.retryAt);
    return outcome;
  }

  private ring(namespace: string, queue: string): void {
    this.events.workAvailable(namespace, queue);
  }

  /** Loads the input and history that matching left out of the task to fit a NATS message. */
  private async loadPayloads(task: Task): Promise<void> {
    const runId = task.runId ?? '';
    task.input = payloadMessage(await this.claims.loadInput(runId));
    task.history = ((await this.claims.histories([runId])).get(runId) ?? []).map(stepMessage);
  }
}
