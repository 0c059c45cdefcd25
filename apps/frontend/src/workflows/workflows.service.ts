import { Inject, Injectable, Logger } from '@nestjs/common';
import { LIMITS, isTerminal } from '@baton/contracts';
import type { BatonConfig, RunView, StepView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { RunsRepository, StepsRepository, finishedRunOf } from '@baton/persistence';
import type { ClaimedRun, CreateRunCommand, Page } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics, LocalDispatch } from '@baton/runtime';
import type { EagerReservation } from '@baton/runtime';
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
    private readonly localDispatch: LocalDispatch,
    private readonly metrics: BatonMetrics,
  ) {}

  async start(cmd: CreateRunCommand): Promise<{ run: RunView; alreadyExists: boolean }> {
    this.warnIfLarge(cmd);
    // A run with a concurrency key is never inserted claimed (its claim must lock the key): no poll is set aside.
    const reservation =
      this.config.eagerDispatch && !cmd.concurrency
        ? this.localDispatch.reserve(cmd.namespace, cmd.queue, cmd.workflowType)
        : undefined;
    const { run, created, claimed } = reservation
      ? await this.startEagerly(cmd, reservation)
      : { ...(await this.runs.create(cmd)), claimed: null };
    const outcome = this.started(run, created, claimed !== null);
    if (claimed) this.metrics.runsClaimed(run.namespace, run.queue, [claimed]);
    return outcome;
  }

  /**
   * start() for several runs that arrive together (one StartMany), each with
   * its own outcome: their inserts share one statement and one commit, and
   * the waiting polls are served by one claim (no eager dispatch: a batch
   * claimed that way would cost a statement per run).
   */
  startMany(cmds: readonly CreateRunCommand[]): Array<Promise<{ run: RunView; alreadyExists: boolean }>> {
    for (const cmd of cmds) this.warnIfLarge(cmd);
    // Submitted in one turn: the starts' group commit inserts them with one statement.
    return cmds.map(async (cmd) => {
      const { run, created } = await this.runs.create(cmd);
      return this.started(run, created, false);
    });
  }

  private started(run: RunView, created: boolean, claimed: boolean): { run: RunView; alreadyExists: boolean } {
    if (created) this.metrics.runStarted(run);
    // A run inserted claimed went to its poll already; a PENDING one rings matching.
    if (created && !claimed) this.events.workAvailable(run.namespace, run.queue);
    // The watchdog fails it at its deadline on a precise timer, not on its next tick.
    if (created && run.deadlineAt) this.events.timerDue('deadline', run.deadlineAt);
    return { run, alreadyExists: !created };
  }

  private warnIfLarge(cmd: CreateRunCommand): void {
    if (cmd.input && cmd.input.data.length > LIMITS.payloadWarnBytes) {
      this.logger.warn(
        `run input of ${cmd.input.data.length} bytes for ${cmd.workflowType}: large payloads slow replays`,
      );
    }
  }

  /**
   * Eager dispatch: a poll in this process waits for this queue and type, so
   * the run is inserted already claimed for its worker (one statement, one
   * commit) and handed to it; if the worker's limits or an older claimable
   * run say no, it is inserted PENDING and the poll waits again.
   */
  private async startEagerly(
    cmd: CreateRunCommand,
    reservation: EagerReservation,
  ): Promise<{ run: RunView; created: boolean; claimed: ClaimedRun | null }> {
    const outcome = await this.runs
      .createClaimed(cmd, reservation.workerId, this.config.claimAckTimeoutMs)
      .catch((err: unknown) => {
        reservation.release();
        throw err;
      });
    if (outcome.claimed) reservation.deliver(outcome.claimed);
    else reservation.release();
    return outcome;
  }

  get(namespace: string, runId: string): Promise<RunView> {
    return this.runs.getOrThrow(namespace, runId);
  }

  list(cmd: ListCommand): Promise<Page<RunView>> {
    return this.runs.list(cmd.namespace, cmd.filter, cmd.pageSize, cmd.pageToken);
  }

  /** `actor`: the API key that cancels (null: authentication off), named in the run's history. */
  async cancel(
    namespace: string,
    runId: string,
    actor: string | null = null,
  ): Promise<{ run: RunView; alreadyCancelled: boolean }> {
    const outcome = await this.runs.cancel(namespace, runId, actor);
    if (outcome.cancelled) {
      // The run, then the children that went with it: each stops its worker and answers its waiters.
      this.cancelled(outcome, outcome.parentQueue);
      for (const descendant of outcome.descendants) this.cancelled(descendant);
    }
    return { run: outcome.run, alreadyCancelled: !outcome.cancelled };
  }

  /** A run just cancelled: `parentQueue` when the cancel woke its parent (it is a child). */
  private cancelled({ run, workerId }: { run: RunView; workerId: string | null }, parentQueue?: string | null): void {
    this.metrics.runFinished(finishedRunOf(run));
    this.runFinished({ ...run, parentQueue });
    // Pushed to the worker's cancellation feed so its handler stops now, not at its next heartbeat.
    if (workerId) this.events.runCancelled({ namespace: run.namespace, runId: run.id, workerId });
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
  runFinished(run: Pick<RunView, 'id' | 'namespace' | 'status'> & { parentQueue?: string | null }): void {
    this.waiters.notify(run.id);
    this.events.runFinished(run);
  }

  get payloadLimit(): number {
    return this.config.payloadLimitBytes;
  }
}
