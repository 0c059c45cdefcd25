import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { timerDueSubject } from '@baton/contracts';
import type { TimerDueEvent } from '@baton/contracts';
import { WatchdogJobs } from './watchdog.jobs';

/** "Timer due" events reach every watchdog replica; each arms its own timer (SKIP LOCKED keeps their passes apart). */
@Controller()
export class TimerEventsController {
  constructor(private readonly jobs: WatchdogJobs) {}

  @EventPattern<Record<string, TimerDueEvent>>(timerDueSubject('wake'))
  wake(@Payload() event: TimerDueEvent): void {
    this.jobs.due('wake', event.dueAt);
  }

  @EventPattern<Record<string, TimerDueEvent>>(timerDueSubject('deadline'))
  deadline(@Payload() event: TimerDueEvent): void {
    this.jobs.due('deadline', event.dueAt);
  }
}
