import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import { dueFireTimes } from '@baton/contracts';
import type { BatonConfig, ScheduleView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { SchedulesRepository } from '@baton/persistence';
import type { FirePlan } from '@baton/persistence';
import { BATON_CONFIG, JobRunner } from '@baton/runtime';
import type { Job } from '@baton/runtime';

const BATCH = 100;

/** What is due for one schedule: its missed fire times up to max_catchup, and the next one after now. */
export function planFires(schedule: ScheduleView, now: Date): FirePlan {
  const { fireTimes, next } = dueFireTimes(
    schedule.cron,
    schedule.timezone,
    schedule.nextFireAt ?? now,
    now,
    schedule.maxCatchup,
  );
  return { fireTimes, nextFireAt: next };
}

/**
 * Fires due cron schedules into runs, catching up missed fire times up to
 * max_catchup, idempotently (one run per schedule and fire time).
 */
@Injectable()
export class FireSchedulesJob implements Job, OnApplicationBootstrap {
  readonly name = 'fire-schedules';
  private readonly logger = new Logger(FireSchedulesJob.name);

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly schedules: SchedulesRepository,
    private readonly events: RunEvents,
    private readonly runner: JobRunner,
  ) {}

  onApplicationBootstrap(): void {
    this.runner.schedule(this, this.config.schedulerIntervalMs);
  }

  async run(): Promise<boolean> {
    const fired = await this.schedules.fireDue(BATCH, planFires);
    if (fired.length) this.logger.log(`fired ${fired.length} scheduled runs`);
    this.events.announce(fired.map((run) => ({ ...run, status: 'PENDING' as const })));
    return false;
  }
}
