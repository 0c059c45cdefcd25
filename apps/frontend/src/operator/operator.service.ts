import { Injectable } from '@nestjs/common';
import type { RunHistoryView, RunView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { OperatorRepository, finishedRunOf } from '@baton/persistence';
import type { Page, StoppedRun } from '@baton/persistence';
import { BatonMetrics } from '@baton/runtime';
import type { HistoryCommand, ResetRunCommand, RetryCommand, TerminateCommand } from '../edge/operator';
import { WorkflowsService } from '../workflows/workflows.service';

/**
 * Operator actions on runs, for the gRPC and HTTP controllers: each is one
 * transition (libs/persistence transitions terminate, retry-failed, reset)
 * that records itself in the run's history; here the rest of the system
 * hears of it, as it hears of a cancel.
 */
@Injectable()
export class OperatorService {
  constructor(
    private readonly operator: OperatorRepository,
    private readonly workflows: WorkflowsService,
    private readonly events: RunEvents,
    private readonly metrics: BatonMetrics,
  ) {}

  async terminate(cmd: TerminateCommand): Promise<{ run: RunView; alreadyTerminated: boolean }> {
    const outcome = await this.operator.terminate(cmd.namespace, cmd.runId, cmd.reason, cmd.actor);
    if (!outcome.terminated) return { run: outcome.run, alreadyTerminated: true };
    // The run, then the children cancelled with it: each stops its worker and answers its waiters.
    this.finished(outcome, outcome.parentQueue);
    for (const descendant of outcome.descendants) this.finished(descendant);
    return { run: outcome.run, alreadyTerminated: false };
  }

  async retry(cmd: RetryCommand): Promise<RunView> {
    const run = await this.operator.retry(cmd.namespace, cmd.runId, cmd.actor, cmd.reason);
    this.restarted(run);
    return run;
  }

  async reset(cmd: ResetRunCommand): Promise<RunView> {
    const { run, workerId } = await this.operator.reset(cmd);
    this.stopWorker(run, workerId);
    this.restarted(run);
    return run;
  }

  history(cmd: HistoryCommand): Promise<Page<RunHistoryView>> {
    return this.operator.history(cmd.namespace, cmd.runId, cmd.pageSize, cmd.pageToken);
  }

  /** A run just ended: `parentQueue` when its end woke its parent (it is a child). */
  private finished({ run, workerId }: StoppedRun, parentQueue?: string | null): void {
    this.metrics.runFinished(finishedRunOf(run));
    this.workflows.runFinished({ ...run, parentQueue });
    this.stopWorker(run, workerId);
  }

  /**
   * The worker that held the run lost it: pushed on its cancellation feed
   * (as a cancel is) so that its handler's ctx.signal aborts now; its next
   * heartbeat or mutation tells it otherwise.
   */
  private stopWorker(run: RunView, workerId: string | null): void {
    if (workerId) this.events.runCancelled({ namespace: run.namespace, runId: run.id, workerId });
  }

  /** A run made claimable again: matching hears it now (or when a kept step's retry is due). */
  private restarted(run: RunView): void {
    if (run.availableAt.getTime() > Date.now()) this.events.workDue(run.namespace, run.queue, run.availableAt);
    else this.events.workAvailable(run.namespace, run.queue);
    if (run.deadlineAt) this.events.timerDue('deadline', run.deadlineAt);
  }
}
