import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { RetentionRepository } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics, JobRunner } from '@baton/runtime';
import type { Job } from '@baton/runtime';

/**
 * Retention (BATON_RETENTION): terminal runs that finished longer ago than
 * the retention are purged with their payloads and steps, one batch
 * (BATON_RETENTION_BATCH_SIZE) per statement. A pass that filled its batch
 * runs again at once, so a backlog (the first run after an upgrade) drains in
 * one tick's worth of short statements instead of one long one; then every
 * BATON_RETENTION_INTERVAL. Replicas split the work (SKIP LOCKED), so the
 * purged counts of all replicas add up to the runs removed.
 */
@Injectable()
export class RetentionJob implements Job, OnApplicationBootstrap {
  readonly name = 'retention';
  private readonly logger = new Logger('Retention');

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly retention: RetentionRepository,
    private readonly runner: JobRunner,
    private readonly metrics: BatonMetrics,
  ) {
    metrics.runsPurged(0);
  }

  onApplicationBootstrap(): void {
    this.runner.schedule(this, this.config.retentionIntervalMs);
  }

  async run(): Promise<boolean> {
    const { retentionMs, retentionBatchSize } = this.config;
    const n = await this.retention.purgeExpiredRuns(retentionMs, retentionBatchSize);
    if (n > 0) {
      this.metrics.runsPurged(n);
      this.logger.log(`purged ${n} runs finished more than ${retentionMs} ms ago`);
    }
    return n === retentionBatchSize;
  }
}
