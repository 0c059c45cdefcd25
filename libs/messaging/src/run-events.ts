import { Injectable } from '@nestjs/common';
import { runFinishedSubject, workAvailableSubject } from '@baton/contracts';
import type { RunFinishedEvent, RunStatus, WorkAvailableEvent } from '@baton/contracts';
import { MessageBus } from './message-bus';

/** The two events every app publishes: a doorbell for a queue, and a run's terminal state. */
@Injectable()
export class RunEvents {
  constructor(private readonly bus: MessageBus) {}

  workAvailable(namespace: string, queue: string): void {
    this.bus.publish<WorkAvailableEvent>(workAvailableSubject(namespace, queue), { namespace, queue });
  }

  runFinished(run: { id: string; namespace: string; status: RunStatus }): void {
    this.bus.publish<RunFinishedEvent>(runFinishedSubject(run.namespace), {
      runId: run.id,
      namespace: run.namespace,
      status: run.status,
    });
  }

  /** Rings each distinct queue once and announces the runs that ended. */
  announce(runs: Array<{ id: string; namespace: string; queue: string; status: RunStatus }>): void {
    const queues = new Map<string, { namespace: string; queue: string }>();
    for (const run of runs) {
      if (run.status === 'PENDING') queues.set(`${run.namespace}\u0000${run.queue}`, run);
      else this.runFinished(run);
    }
    for (const { namespace, queue } of queues.values()) this.workAvailable(namespace, queue);
  }
}
