import { Inject, Injectable } from '@nestjs/common';
import { LIMITS, checkCron, checkInt, checkName, checkTimezone, nextFireTime } from '@baton/contracts';
import type { BatonConfig, Payload, ScheduleView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { SchedulesRepository } from '@baton/persistence';
import type { Page } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics } from '@baton/runtime';
import type { CreateScheduleRequest, ListSchedulesRequest, UpdateScheduleRequest } from '@baton/proto';
import { parseNamespace, parsePageSize } from '../edge/requests';
import type { Untrusted } from '../edge/requests';

const maxCatchupOf = (value: unknown, fallback: number) =>
  value === undefined || value === null
    ? fallback
    : checkInt(value, 'maxCatchup', LIMITS.maxCatchup.min, LIMITS.maxCatchup.max);

/** ScheduleService: validation at the edge, then one repository call per operation. */
@Injectable()
export class SchedulesService {
  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly schedules: SchedulesRepository,
    private readonly events: RunEvents,
    private readonly metrics: BatonMetrics,
  ) {}

  get payloadLimit(): number {
    return this.config.payloadLimitBytes;
  }

  async create(
    namespace: unknown,
    raw: Untrusted<CreateScheduleRequest>,
    input: Payload | null,
  ): Promise<ScheduleView> {
    const timezone = checkTimezone(raw.timezone);
    const cron = checkCron(raw.cron, timezone);
    const created = await this.schedules.create({
      namespace: parseNamespace(namespace),
      scheduleId: checkName(raw.scheduleId, 'scheduleId'),
      workflowType: checkName(raw.workflowType, 'workflowType'),
      queue: raw.queue === undefined || raw.queue === '' ? 'default' : checkName(raw.queue, 'queue'),
      cron,
      timezone,
      input,
      maxCatchup: maxCatchupOf(raw.maxCatchup, LIMITS.maxCatchup.default),
      paused: raw.paused === true,
      nextFireAt: nextFireTime(cron, timezone, new Date()),
    });
    return this.announced(created);
  }

  get(namespace: unknown, scheduleId: unknown): Promise<ScheduleView> {
    return this.schedules.get(parseNamespace(namespace), checkName(scheduleId, 'scheduleId'));
  }

  list(namespace: unknown, raw: Untrusted<ListSchedulesRequest>): Promise<Page<ScheduleView>> {
    return this.schedules.list(
      parseNamespace(namespace),
      { workflowType: raw.workflowType ? checkName(raw.workflowType, 'workflowType') : undefined },
      parsePageSize(raw.pageSize, LIMITS.schedulesPage),
      typeof raw.pageToken === 'string' && raw.pageToken ? raw.pageToken : null,
    );
  }

  /** Changes what is given; a new cron or timezone recomputes the next fire time from now. */
  async update(
    namespace: unknown,
    scheduleId: unknown,
    raw: Untrusted<UpdateScheduleRequest>,
    input: Payload | null,
  ): Promise<ScheduleView> {
    const current = await this.get(namespace, scheduleId);
    const given = (v: unknown) => v !== undefined && v !== null && v !== '';
    const timezone = given(raw.timezone) ? checkTimezone(raw.timezone) : current.timezone;
    const cron = given(raw.cron) ? checkCron(raw.cron, timezone) : current.cron;
    const updated = await this.schedules.update(current.namespace, current.scheduleId, {
      cron,
      timezone,
      workflowType: given(raw.workflowType) ? checkName(raw.workflowType, 'workflowType') : current.workflowType,
      queue: given(raw.queue) ? checkName(raw.queue, 'queue') : current.queue,
      input: input ?? current.input,
      maxCatchup: maxCatchupOf(raw.maxCatchup, current.maxCatchup),
      nextFireAt: nextFireTime(cron, timezone, new Date()),
    });
    return this.announced(updated);
  }

  async setPaused(namespace: unknown, scheduleId: unknown, paused: boolean): Promise<ScheduleView> {
    const current = await this.get(namespace, scheduleId);
    const next = paused ? null : nextFireTime(current.cron, current.timezone, new Date());
    return this.announced(await this.schedules.setPaused(current.namespace, current.scheduleId, paused, next));
  }

  /** The scheduler fires it at its next fire time on a precise timer, not on its next tick. */
  private announced(schedule: ScheduleView): ScheduleView {
    if (!schedule.paused && schedule.nextFireAt) this.events.timerDue('schedule', schedule.nextFireAt);
    return schedule;
  }

  /** One run now, as a fire of the schedule; its workers hear of it at once. Returns the run's id. */
  async trigger(namespace: unknown, scheduleId: unknown): Promise<string> {
    const run = await this.schedules.trigger(parseNamespace(namespace), checkName(scheduleId, 'scheduleId'));
    this.metrics.runStarted(run, 'fired');
    this.events.announce([{ ...run, status: 'PENDING' }]);
    return run.id;
  }

  delete(namespace: unknown, scheduleId: unknown): Promise<void> {
    return this.schedules.delete(parseNamespace(namespace), checkName(scheduleId, 'scheduleId'));
  }
}
