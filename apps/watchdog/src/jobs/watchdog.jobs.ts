import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { CountersRepository, RecoveryRepository } from '@baton/persistence';
import type { MovedRun } from '@baton/persistence';
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
    const { wakeBatchSize, recoveryBatchSize, workerStaleThresholdMs } = this.config;
    const every = this.config.watchdogIntervalMs;
    // Sleepers whose wake time has come → claimable, their queues rung.
    this.runner.schedule(
      this.moving('wake-sleepers', wakeBatchSize, () => this.recovery.wakeSleepers(wakeBatchSize)),
      every,
    );
    // Expired leases → claimable after the policy's backoff (attempt + 1), or FAILED when attempts are spent.
    this.runner.schedule(
      this.moving('orphan-recovery', recoveryBatchSize, () => this.recovery.recoverExpiredLeases(recoveryBatchSize)),
      every,
    );
    // Workers silent past the stale threshold → OFFLINE; their runs are claimable at once.
    this.runner.schedule(
      this.moving('stale-workers', recoveryBatchSize, async () => {
        const { workers, runs } = await this.recovery.expireStaleWorkers(workerStaleThresholdMs, recoveryBatchSize);
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
