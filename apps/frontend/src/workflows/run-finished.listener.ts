import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Patterns } from '@baton/contracts';
import type { RunFinishedEvent } from '@baton/contracts';
import { ResultWaiters } from './result-waiters';

/** Every frontend hears every "run finished" (no queue group): any may hold the waiting caller. */
@Controller()
export class RunFinishedListener {
  constructor(private readonly waiters: ResultWaiters) {}

  @EventPattern<Record<string, RunFinishedEvent>>(`${Patterns.runFinished}.>`)
  runFinished(@Payload() event: RunFinishedEvent): void {
    this.waiters.notify(event.runId);
  }
}
