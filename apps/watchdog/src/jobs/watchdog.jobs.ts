import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { CountersRepository, RecoveryRepository } from '@baton/persistence';
import { BATON_CONFIG } from '@baton/runtime';
import type { Job } from '@baton/runtime';

/** Wakes due sleepers in batches and rings their queues, so polling workers get them at once. */
@Injectable()
export class SleepersJob implements Job {
  readonly name = 'wake-sleepers';

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly recovery: RecoveryRepository,
    private readonly events: RunEvents,
  ) {}

  async run(): Promise<boolean> {
    const woken = await this.recovery.wakeSleepers(this.config.wakeBatchSize);
    this.events.announce(woken);
    return woken.length === this.config.wakeBatchSize;
  }
}

/** Runs whose lease expired go back to claimable after their backoff, or fail when attempts are spent. */
@Injectable()
export class OrphanRecoveryJob implements Job {
  readonly name = 'orphan-recovery';
  private readonly logger = new Logger(OrphanRecoveryJob.name);

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly recovery: RecoveryRepository,
    private readonly events: RunEvents,
  ) {}

  async run(): Promise<boolean> {
    const moved = await this.recovery.recoverExpiredLeases(this.config.recoveryBatchSize);
    if (moved.length) this.logger.log(`recovered ${moved.length} runs with expired leases`);
    this.events.announce(moved);
    return moved.length === this.config.recoveryBatchSize;
  }
}

/** Workers silent past the stale threshold go OFFLINE; their runs are claimable at once. */
@Injectable()
export class StaleWorkersJob implements Job {
  readonly name = 'stale-workers';
  private readonly logger = new Logger(StaleWorkersJob.name);

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly recovery: RecoveryRepository,
    private readonly events: RunEvents,
  ) {}

  async run(): Promise<boolean> {
    const { workers, runs } = await this.recovery.expireStaleWorkers(
      this.config.workerStaleThresholdMs,
      this.config.recoveryBatchSize,
    );
    if (workers.length) this.logger.log(`marked ${workers.length} stale workers OFFLINE, freed ${runs.length} runs`);
    this.events.announce(runs);
    return workers.length === this.config.recoveryBatchSize;
  }
}

/** Live runs past their deadline fail with DEADLINE_EXCEEDED. */
@Injectable()
export class DeadlinesJob implements Job {
  readonly name = 'deadlines';

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly recovery: RecoveryRepository,
    private readonly events: RunEvents,
  ) {}

  async run(): Promise<boolean> {
    const failed = await this.recovery.failPastDeadline(this.config.recoveryBatchSize);
    this.events.announce(failed);
    return failed.length === this.config.recoveryBatchSize;
  }
}

/** Folds counter deltas every tick. */
@Injectable()
export class CounterFoldJob implements Job {
  readonly name = 'fold-counters';

  constructor(private readonly counters: CountersRepository) {}

  async run(): Promise<boolean> {
    await this.counters.fold();
    return false;
  }
}

/** Re-derives the counters from the runs and repairs drift (invariant 10). */
@Injectable()
export class CounterReconcileJob implements Job {
  readonly name = 'reconcile-counters';
  private readonly logger = new Logger(CounterReconcileJob.name);

  constructor(private readonly counters: CountersRepository) {}

  async run(): Promise<boolean> {
    const drifted = await this.counters.reconcile();
    for (const q of drifted) {
      this.logger.warn(`repaired counter drift on ${q.namespace}/${q.queue}: ${JSON.stringify(q.drift)}`);
    }
    return false;
  }
}
