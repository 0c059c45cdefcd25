import { Inject, Injectable } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { BATON_CONFIG } from '@baton/runtime';
import { JobRunner } from '@baton/runtime';
import {
  CounterFoldJob,
  CounterReconcileJob,
  DeadlinesJob,
  OrphanRecoveryJob,
  SleepersJob,
  StaleWorkersJob,
} from './watchdog.jobs';

/** Puts every watchdog job on its interval once the app is up. */
@Injectable()
export class JobsScheduler implements OnApplicationBootstrap {
  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly runner: JobRunner,
    private readonly sleepers: SleepersJob,
    private readonly orphans: OrphanRecoveryJob,
    private readonly staleWorkers: StaleWorkersJob,
    private readonly deadlines: DeadlinesJob,
    private readonly fold: CounterFoldJob,
    private readonly reconcile: CounterReconcileJob,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.watchdogIntervalMs;
    for (const job of [this.sleepers, this.orphans, this.staleWorkers, this.deadlines, this.fold]) {
      this.runner.schedule(job, every);
    }
    this.runner.schedule(this.reconcile, this.config.reconcileIntervalMs);
  }
}
