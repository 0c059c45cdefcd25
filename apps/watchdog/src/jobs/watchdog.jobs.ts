import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { LIVENESS, TIMERS } from '@baton/contracts';
import type { BatonConfig, TimerKind } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { CountersRepository, DueTimesRepository, RecoveryRepository } from '@baton/persistence';
import type { MovedRun, RecoveryBudget } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics, DueTimer, JobRunner } from '@baton/runtime';
import type { Job } from '@baton/runtime';

/** Moves in the normal course of a run (a sleep ends), not recoveries: a line per pass would be a line per sleep. */
const ROUTINE_MOVES = new Set(['wake-sleepers']);

/**
 * The watchdog's jobs (DESIGN §1, invariants 3, 8, 10). Each is one
 * repository statement in bounded batches; the rows it moves are announced
 * (doorbells for claimable runs, "run finished" for failed ones). A job that
 * filled its batch runs again at once.
 *
 * Waking sleepers and failing runs past their deadline also run on a precise
 * timer: after each pass the earliest future wake time (deadline) is read
 * from the database and one timer armed for it; a "timer due" event (a run
 * went to sleep, a run started with a timeout) arms it sooner. The interval
 * tick stays as the fallback for a lost event. Sleepers are woken
 * TIMERS.sleeperWakeGraceMs after their wake time: until then one a worker
 * polls for is matching's to claim.
 */
@Injectable()
export class WatchdogJobs implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Watchdog');
  private readonly passNow: Record<'wake' | 'deadline', () => void> = { wake: () => {}, deadline: () => {} };
  private readonly timers = {
    wake: new DueTimer(() => this.passNow.wake()),
    deadline: new DueTimer(() => this.passNow.deadline()),
  };

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly recovery: RecoveryRepository,
    private readonly counters: CountersRepository,
    private readonly dueTimes: DueTimesRepository,
    private readonly events: RunEvents,
    private readonly runner: JobRunner,
    private readonly metrics: BatonMetrics,
  ) {}

  onApplicationBootstrap(): void {
    const { wakeBatchSize, recoveryBatchSize, workerStaleThresholdMs, claimAckTimeoutMs } = this.config;
    const every = this.config.watchdogIntervalMs;
    const budget: RecoveryBudget = {
      limit: this.config.recoveryLimit,
      backoffMs: this.config.recoveryBackoffMs,
      backoffMaxMs: this.config.recoveryBackoffMaxMs,
    };
    // Workers are judged by their silence only while frontends have been up to hear them.
    const settled = { pulseGapMs: LIVENESS.pulseGapMs };
    // Queue backlogs and workers, read at each scrape: served here, once for the deployment.
    this.metrics.serveQueueGauges();
    // Sleepers whose wake time has come (and the grace after it) → PENDING, their queues rung.
    this.passNow.wake = this.runner.schedule(
      this.moving(
        'wake-sleepers',
        wakeBatchSize,
        async () => {
          const woken = await this.recovery.wakeSleepers(wakeBatchSize, TIMERS.sleeperWakeGraceMs);
          this.metrics.timersServed('wake', woken);
          return woken;
        },
        {
          timer: this.timers.wake,
          next: () => this.dueTimes.nextWake(TIMERS.sleeperWakeGraceMs),
        },
      ),
      every,
    );
    // Expired leases: undelivered claims back at once and free; delivered runs recovered after the
    // recovery backoff (attempt + 1, recoveries + 1), or FAILED when the recovery budget is spent.
    // After an outage a lease gets a whole lease period (an unacknowledged claim its acknowledgement
    // timeout) of reachable frontends before its expiry counts: workers must be able to renew it first.
    const windows = { deliveredMs: this.config.leaseDurationMs, undeliveredMs: claimAckTimeoutMs };
    this.runner.schedule(
      this.moving('orphan-recovery', recoveryBatchSize, async () => {
        const moved = await this.recovery.recoverExpiredLeases(budget, settled, windows, recoveryBatchSize);
        this.metrics.recovered('lease_expired', moved);
        return moved;
      }),
      every,
    );
    // Workers silent past the stale threshold → OFFLINE; their runs are recovered at once.
    this.runner.schedule(
      this.moving('stale-workers', recoveryBatchSize, async () => {
        const { workers, runs } = await this.recovery.expireStaleWorkers(
          budget,
          settled,
          workerStaleThresholdMs,
          recoveryBatchSize,
        );
        if (workers.length) this.logger.log(`marked ${workers.length} stale workers OFFLINE`);
        // Matching must stop trusting what it cached about them: their next poll is refused.
        for (const id of workers) this.events.workerChanged(id);
        this.metrics.recovered('worker_stale', runs);
        return runs;
      }),
      every,
    );
    // Live runs past their deadline → FAILED (DEADLINE_EXCEEDED).
    this.passNow.deadline = this.runner.schedule(
      this.moving(
        'deadlines',
        recoveryBatchSize,
        async () => {
          const failed = await this.recovery.failPastDeadline(recoveryBatchSize);
          this.metrics.timersServed('deadline', failed);
          this.metrics.recovered('deadline', failed);
          return failed;
        },
        {
          timer: this.timers.deadline,
          next: () => this.dueTimes.nextDeadline(),
        },
      ),
      every,
    );
    this.runner.schedule({ name: 'fold-counters', run: () => this.fold() }, every);
    this.runner.schedule({ name: 'reconcile-counters', run: () => this.reconcile() }, this.config.reconcileIntervalMs);
  }

  beforeApplicationShutdown(): void {
    this.timers.wake.close();
    this.timers.deadline.close();
  }

  /** A "timer due" event: something of this kind comes due at `dueAt` (epoch ms). */
  due(kind: TimerKind, dueAt: number): void {
    if (kind === 'wake') this.timers.wake.arm(dueAt + TIMERS.sleeperWakeGraceMs);
    if (kind === 'deadline') this.timers.deadline.arm(dueAt);
  }

  /**
   * A job that moves runs and announces them. With `precise`, the pass that
   * did not fill its batch (nothing more is due now) reads when the next run
   * comes due and arms the timer for it.
   */
  private moving(
    name: string,
    batchSize: number,
    move: () => Promise<MovedRun[]>,
    precise?: { timer: DueTimer; next: () => Promise<number | null> },
  ): Job {
    return {
      name,
      run: async () => {
        const moved = await move();
        if (moved.length) this.logger[ROUTINE_MOVES.has(name) ? 'debug' : 'log'](`${name}: moved ${moved.length} runs`);
        this.announce(moved);
        const full = moved.length === batchSize;
        if (precise && !full) await precise.timer.refresh(precise.next);
        return full;
      },
    };
  }

  /**
   * Doorbells for runs claimable now; a recovered run parked for its backoff
   * is announced as due then instead, so matching rings its queue at that time.
   */
  private announce(moved: MovedRun[]): void {
    const now = Date.now();
    const due = new Map<string, { namespace: string; queue: string; at: Date }>();
    const claimable: MovedRun[] = [];
    for (const run of moved) {
      const at = run.status === 'PENDING' ? run.availableAt : undefined;
      if (!at || at.getTime() <= now) {
        claimable.push(run);
        continue;
      }
      const key = `${run.namespace}\u0000${run.queue}`;
      const seen = due.get(key);
      if (!seen || at < seen.at) due.set(key, { namespace: run.namespace, queue: run.queue, at });
    }
    for (const { namespace, queue, at } of due.values()) this.events.workDue(namespace, queue, at);
    this.events.announce(claimable);
  }

  private async fold(): Promise<boolean> {
    await this.counters.fold();
    return false;
  }

  private async reconcile(): Promise<boolean> {
    for (const q of await this.counters.reconcile()) {
      this.logger.warn(`repaired counter drift on ${q.namespace}/${q.queue}: ${JSON.stringify(q.drift)}`);
    }
    return false;
  }
}
