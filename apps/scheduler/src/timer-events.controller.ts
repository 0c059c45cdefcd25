import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { timerDueSubject } from '@baton/contracts';
import type { TimerDueEvent } from '@baton/contracts';
import { FireSchedulesJob } from './fire-schedules.job';

/** "Schedule due" events reach every scheduler replica; each arms its own timer (SKIP LOCKED keeps their passes apart). */
@Controller()
export class TimerEventsController {
  constructor(private readonly job: FireSchedulesJob) {}

  @EventPattern<Record<string, TimerDueEvent>>(timerDueSubject('schedule'))
  schedule(@Payload() event: TimerDueEvent): void {
    this.job.due(event.dueAt);
  }
}
