import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Patterns } from '@baton/contracts';
import type { RunCancelledEvent } from '@baton/contracts';
import { CancellationFeeds } from './cancellation-feeds.service';

/** Every frontend hears every "run cancelled" (no queue group): any may hold the worker's feed. */
@Controller()
export class RunCancelledListener {
  constructor(private readonly feeds: CancellationFeeds) {}

  @EventPattern<Record<string, RunCancelledEvent>>(`${Patterns.runCancelled}.>`)
  runCancelled(@Payload() event: RunCancelledEvent): void {
    this.feeds.deliver(event);
  }
}
