import { Controller } from '@nestjs/common';
import { EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { MATCHING_QUEUE_GROUP, Patterns } from '@baton/contracts';
import type { PollReply, PollRequest, WorkAvailableEvent, WorkDueEvent, WorkerChangedEvent } from '@baton/contracts';
import { DispatcherService } from './dispatcher.service';

@Controller()
export class PollController {
  constructor(private readonly dispatcher: DispatcherService) {}

  /** Long poll from a frontend; the replicas share it as one queue group. */
  @MessagePattern(Patterns.poll, { queue: MATCHING_QUEUE_GROUP })
  poll(@Payload() request: PollRequest): Promise<PollReply> {
    return this.dispatcher.poll(request);
  }

  /** Doorbells reach every replica: any of them may hold waiters for the queue. */
  @EventPattern<Record<string, WorkAvailableEvent>>(`${Patterns.workAvailable}.>`)
  workAvailable(@Payload() event: WorkAvailableEvent): void {
    this.dispatcher.workAvailable(event.namespace, event.queue);
  }

  /** "Work due at T" reaches every replica too: each arms a timer for the queues it holds waiters on. */
  @EventPattern<Record<string, WorkDueEvent>>(`${Patterns.workDue}.>`)
  workDue(@Payload() event: WorkDueEvent): void {
    this.dispatcher.workDue(event.namespace, event.queue, event.dueAt);
  }

  /** Every replica may have cached the worker. */
  @EventPattern<Record<string, WorkerChangedEvent>>(Patterns.workerChanged)
  workerChanged(@Payload() event: WorkerChangedEvent): void {
    this.dispatcher.workerChanged(event.workerId);
  }
}
