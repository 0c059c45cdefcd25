import { Inject, Injectable, Logger } from '@nestjs/common';
import { LIMITS, isTerminal } from '@baton/contracts';
import type { BatonConfig, RunView, StepView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { RunsRepository, StepsRepository } from '@baton/persistence';
import type { CreateRunCommand, Page } from '@baton/persistence';
import { BATON_CONFIG } from '@baton/runtime';
import type { ListCommand } from '../edge/requests';
import { ResultWaiters } from './result-waiters';

/** Even without an event (a lost NATS message), a waiting result is re-read this often. */
const RESULT_RECHECK_MS = 2_000;

/** The client-facing run operations, shared by the gRPC and HTTP controllers. */
@Injectable()
export class WorkflowsService {
  private readonly logger = new Logger(WorkflowsService.name);

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly runs: RunsRepository,
    private readonly steps: StepsRepository,
    private readonly events: RunEvents,
    private readonly waiters: ResultWaiters,
  ) {}

  async start(cmd: CreateRunCommand): Promise<{ run: RunView; alreadyExists: boolean }> {
    if (cmd.input && cmd.input.data.length > LIMITS.payloadWarnBytes) {
      this.logger.warn(
        `run input of ${cmd.input.data.length} bytes for ${cmd.workflowType}: large payloads slow replays`,
      );
    }
    const { run, created } = await this.runs.create(cmd);
    if (created) this.events.workAvailable(run.namespace, run.queue);
    // The watchdog fails it at its deadline on a precise timer, not on its next tick.
    if (created && run.deadlineAt) this.events.timerDue('deadline', run.deadlineAt);
    return { run, alreadyExists: !created };
  }

  get(namespace: string, runId: string): Promise<RunView> {
    return this.runs.getOrThrow(namespace, runId);
  }

  list(cmd: ListCommand): Promise<Page<RunView>> {
    return this.runs.list(cmd.namespace, cmd.filter, cmd.pageSize, cmd.pageToken);
  }

  async cancel(namespace: string, runId: string): Promise<{ run: RunView; alreadyCancelled: boolean }> {
    const outcome = await this.runs.cancel(namespace, runId);
    if (outcome.cancelled) {
      this.runFinished(outcome.run);
      // Pushed to the worker's cancellation feed so its handler stops now, not at its next heartbeat.
      if (outcome.workerId) this.events.runCancelled({ namespace, runId: outcome.run.id, workerId: outcome.workerId });
    }
    return { run: outcome.run, alreadyCancelled: !outcome.cancelled };
  }

  delete(namespace: string, runId: string): Promise<void> {
    return this.runs.delete(namespace, runId);
  }

  listSteps(namespace: string, runId: string, pageSize: number, pageToken: string | null): Promise<Page<StepView>> {
    return this.steps.list(namespace, runId, pageSize, pageToken);
  }

  /** Long poll: answers the moment the run is terminal (woken by "run finished"), or after waitMs. */
  async waitResult(namespace: string, runId: string, waitMs: number): Promise<{ run: RunView; done: boolean }> {
    const deadline = Date.now() + waitMs;
    const subscription = this.waiters.subscribe(runId);
    try {
      for (;;) {
        const run = await this.runs.getOrThrow(namespace, runId);
        const remaining = deadline - Date.now();
        if (isTerminal(run.status) || remaining <= 0) return { run, done: isTerminal(run.status) };
        await subscription.next(Math.min(remaining, RESULT_RECHECK_MS));
      }
    } finally {
      subscription.close();
    }
  }

  /** Announces a terminal run to every frontend (their WaitResult callers). */
  runFinished(run: Pick<RunView, 'id' | 'namespace' | 'status'>): void {
    this.waiters.notify(run.id);
    this.events.runFinished(run);
  }

  get payloadLimit(): number {
    return this.config.payloadLimitBytes;
  }
}
