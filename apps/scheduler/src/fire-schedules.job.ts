import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnApplicationBootstrap } from '@nestjs/common';
import { dueFireTimes } from '@baton/contracts';
import type { BatonConfig, ScheduleView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { DueTimesRepository, SchedulesRepository } from '@baton/persistence';
import type { FirePlan } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics, DueTimer, JobRunner } from '@baton/runtime';
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
 *
 * Besides the interval tick, a precise timer: after each pass the earliest
 * next_fire_at is read and one timer armed for it; a "timer due" event (a
 * schedule created, updated or resumed) arms it sooner.
 */
@Injectable()
export class FireSchedulesJob implements Job, OnApplicationBootstrap, BeforeApplicationShutdown {
  readonly name = 'fire-schedules';
  private readonly logger = new Logger(FireSchedulesJob.name);
  private passNow: () => void = () => {};
  private readonly timer = new DueTimer(() => this.passNow());

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly schedules: SchedulesRepository,
    private readonly dueTimes: DueTimesRepository,
    private readonly events: RunEvents,
    private readonly runner: JobRunner,
    private readonly metrics: BatonMetrics,
  ) {}

  onApplicationBootstrap(): void {
    this.passNow = this.runner.schedule(this, this.config.schedulerIntervalMs);
  }

  beforeApplicationShutdown(): void {
    this.timer.close();
  }

  /** A "timer due" event: a schedule's next fire is at `dueAt` (epoch ms). */
  due(dueAt: number): void {
    this.timer.arm(dueAt);
  }

  async run(): Promise<boolean> {
    const fired = await this.schedules.fireDue(BATCH, planFires);
    if (fired.length) this.logger.log(`fired ${fired.length} scheduled runs`);
    this.metrics.scheduleFired(fired);
    this.events.announce(fired.map((run) => ({ ...run, status: 'PENDING' as const })));
    await this.timer.refresh(() => this.dueTimes.nextFire());
    return false;
  }
}
