import { Inject, Injectable, Logger } from '@nestjs/common';
import { LIMITS, isTerminal } from '@baton/contracts';
import type { BatonConfig, RunView, StepView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { RunsRepository, StepsRepository, finishedRunOf, isDatabaseOutage } from '@baton/persistence';
import type { CreateRunCommand, Page } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics, LocalDispatch } from '@baton/runtime';
import type { EagerReservation } from '@baton/runtime';
import type { ListCommand } from '../edge/requests';
import { ResultWaiters } from './result-waiters';

/** A start's outcome: the run, and whether a live run already held its external id (then that run). */
export interface Started {
  run: RunView;
  alreadyExists: boolean;
}

/**
 * The starts eager dispatch may insert claimed, by (namespace, queue, type):
 * indices into `cmds`, in order. A run with a concurrency key never is (its
 * claim must lock the key).
 */
function eagerGroups(cmds: readonly CreateRunCommand[]): number[][] {
  const groups = new Map<string, number[]>();
  cmds.forEach((cmd, i) => {
    if (cmd.concurrency) return;
    const key = `${cmd.namespace}\u0000${cmd.queue}\u0000${cmd.workflowType}`;
    const group = groups.get(key) ?? [];
    group.push(i);
    groups.set(key, group);
  });
  return [...groups.values()];
}

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

  start(cmd: CreateRunCommand): Promise<Started> {
    return this.startMany([cmd])[0]!;
  }

  /**
   * Starts runs that arrive together (one StartMany, or a lone Start), each
   * with its own outcome. Runs of a queue and type for which polls in this
   * process wait are inserted with one statement, already claimed for those
   * polls' workers as far as the workers' limits allow (eager dispatch); the
   * others are submitted in one turn, so the starts' group commit inserts
   * them with one statement, and the waiting polls are served by a claim.
   */
  startMany(cmds: readonly CreateRunCommand[]): Array<Promise<Started>> {
    for (const cmd of cmds) this.warnIfLarge(cmd);
    const outcomes: Array<Promise<Started> | undefined> = new Array(cmds.length);
    if (this.config.eagerDispatch) {
      for (const indices of eagerGroups(cmds)) {
        const { namespace, queue, workflowType } = cmds[indices[0]!]!;
        const reservation = this.localDispatch.reserve(namespace, queue, workflowType, indices.length);
        if (!reservation) continue;
        const started = this.startEagerly(
          indices.map((i) => cmds[i]!),
          reservation,
        );
        indices.forEach((index, k) => (outcomes[index] = started[k]));
      }
    }
    return cmds.map((cmd, i) => outcomes[i] ?? this.startAlone(cmd));
  }

  /**
   * Eager dispatch: polls in this process wait for these runs' queue and
   * type, so the runs are inserted already claimed for the reserved places'
   * workers (one statement, one commit) and handed to the polls; the runs
   * the workers' limits or an older claimable run say no to are inserted
   * PENDING and the polls that got none wait again. A run whose external id
   * a live run holds is started as a plain start is (which finds that run).
   * If the statement fails for another reason than an outage, nothing was
   * inserted, and each run is started on its own, as the starts' group
   * commit does.
   */
  private startEagerly(cmds: readonly CreateRunCommand[], reservation: EagerReservation): Array<Promise<Started>> {
    const statement = this.runs.createClaimed(cmds, reservation.places, this.config.claimAckTimeoutMs);
    // First, whatever follows: the reserved polls get their runs, or wait again.
    statement
      .then(
        (rows) => {
          const claimed = rows.flatMap((row) => (row?.claimed ? [row.claimed] : []));
          reservation.deliver(claimed);
          if (claimed.length > 0) this.metrics.runsClaimed(cmds[0]!.namespace, cmds[0]!.queue, claimed);
        },
        () => reservation.release(),
      )
      .catch((err: unknown) => this.logger.error(`eager dispatch: ${(err as Error)?.message ?? err}`));
    return cmds.map((cmd, k) =>
      statement.then(
        (rows) => {
          const row = rows[k];
          return row ? this.started(row.run, true, row.claimed !== null) : this.startAlone(cmd);
        },
        (err: unknown) => {
          if (cmds.length === 1 || isDatabaseOutage(err)) throw err;
          return this.startAlone(cmd);
        },
      ),
    );
  }

  /** A start through the starts' group commit (with an external id a live run holds: that run). */
  private startAlone(cmd: CreateRunCommand): Promise<Started> {
    return this.runs.create(cmd).then(({ run, created }) => this.started(run, created, false));
  }

  private started(run: RunView, created: boolean, claimed: boolean): Started {
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

  /**
   * Long poll: answers the moment the run is terminal (woken by "run
   * finished"), or after waitMs. A finish that came with the whole run (a
   * completion in this process) is the answer as it stands; otherwise the
   * run is read.
   */
  async waitResult(namespace: string, runId: string, waitMs: number): Promise<{ run: RunView; done: boolean }> {
    const deadline = Date.now() + waitMs;
    const subscription = this.waiters.subscribe(runId);
    try {
      for (;;) {
        const run = await this.runs.getOrThrow(namespace, runId);
        const remaining = deadline - Date.now();
        if (isTerminal(run.status) || remaining <= 0) return { run, done: isTerminal(run.status) };
        const finished = await subscription.next(Math.min(remaining, RESULT_RECHECK_MS));
        if (finished?.namespace === namespace && isTerminal(finished.status)) return { run: finished, done: true };
      }
    } finally {
      subscription.close();
    }
  }

  /**
   * Announces a terminal run to every frontend (their WaitResult callers);
   * `finished`, the whole run as it finished when the caller has it, answers
   * this process's callers without a read.
   */
  runFinished(
    run: Pick<RunView, 'id' | 'namespace' | 'status'> & { parentQueue?: string | null },
    finished?: RunView,
  ): void {
    this.waiters.notify(run.id, finished);
    this.events.runFinished(run);
  }

  get payloadLimit(): number {
    return this.config.payloadLimitBytes;
  }
}
