import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import { LIVENESS } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { CountersRepository, RecoveryRepository } from '@baton/persistence';
import type { MovedRun, RecoveryBudget } from '@baton/persistence';
import { BATON_CONFIG, JobRunner } from '@baton/runtime';
import type { Job } from '@baton/runtime';

/**
 * The watchdog's jobs (DESIGN §1, invariants 3, 8, 10). Each is one
 * repository statement in bounded batches; the rows it moves are announced
 * (doorbells for claimable runs, "run finished" for failed ones). A job that
 * filled its batch runs again at once.
 */
@Injectable()
export class WatchdogJobs implements OnApplicationBootstrap {
  private readonly logger = new Logger('Watchdog');

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly recovery: RecoveryRepository,
    private readonly counters: CountersRepository,
    private readonly events: RunEvents,
    private readonly runner: JobRunner,
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
    // Sleepers whose wake time has come → claimable, their queues rung.
    this.runner.schedule(
      this.moving('wake-sleepers', wakeBatchSize, () => this.recovery.wakeSleepers(wakeBatchSize)),
      every,
    );
    // Expired leases: undelivered claims back at once and free; delivered runs recovered after the
    // recovery backoff (attempt + 1, recoveries + 1), or FAILED when the recovery budget is spent.
    // After an outage a lease gets a whole lease period (an unacknowledged claim its acknowledgement
    // timeout) of reachable frontends before its expiry counts: workers must be able to renew it first.
    const windows = { deliveredMs: this.config.leaseDurationMs, undeliveredMs: claimAckTimeoutMs };
    this.runner.schedule(
      this.moving('orphan-recovery', recoveryBatchSize, () =>
        this.recovery.recoverExpiredLeases(budget, settled, windows, recoveryBatchSize),
      ),
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
        return runs;
      }),
      every,
    );
    // Live runs past their deadline → FAILED (DEADLINE_EXCEEDED).
    this.runner.schedule(
      this.moving('deadlines', recoveryBatchSize, () => this.recovery.failPastDeadline(recoveryBatchSize)),
      every,
    );
    this.runner.schedule({ name: 'fold-counters', run: () => this.fold() }, every);
    this.runner.schedule({ name: 'reconcile-counters', run: () => this.reconcile() }, this.config.reconcileIntervalMs);
  }

  private moving(name: string, batchSize: number, move: () => Promise<MovedRun[]>): Job {
    return {
      name,
      run: async () => {
        const moved = await move();
        if (moved.length) this.logger.log(`${name}: moved ${moved.length} runs`);
        this.events.announce(moved);
        return moved.length === batchSize;
      },
    };
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
