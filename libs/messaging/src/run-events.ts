import { Injectable } from '@nestjs/common';
import {
  Patterns,
  runCancelledSubject,
  runFinishedSubject,
  timerDueSubject,
  workAvailableSubject,
  workDueSubject,
} from '@baton/contracts';
import type {
  RunCancelledEvent,
  RunFinishedEvent,
  RunStatus,
  TimerDueEvent,
  TimerKind,
  WorkAvailableEvent,
  WorkDueEvent,
  WorkerChangedEvent,
} from '@baton/contracts';
import { MessageBus } from './message-bus';

/** The events apps publish: doorbells and due times for queues and timers, runs that ended, workers that changed. */
@Injectable()
export class RunEvents {
  constructor(private readonly bus: MessageBus) {}

  workAvailable(namespace: string, queue: string): void {
    this.bus.publish<WorkAvailableEvent>(workAvailableSubject(namespace, queue), { namespace, queue });
  }

  /**
   * A run ended. A child run's finish woke its parent in the same commit (a
   * trigger): `parentQueue` is the parent's queue, rung so it is claimed now.
   */
  runFinished(run: { id: string; namespace: string; status: RunStatus; parentQueue?: string | null }): void {
    this.bus.publish<RunFinishedEvent>(runFinishedSubject(run.namespace), {
      runId: run.id,
      namespace: run.namespace,
      status: run.status,
    });
    if (run.parentQueue) this.workAvailable(run.namespace, run.parentQueue);
  }

  /** A RUNNING run was cancelled: every frontend hears it, the one feeding its worker pushes it there. */
  runCancelled(event: RunCancelledEvent): void {
    this.bus.publish<RunCancelledEvent>(runCancelledSubject(event.namespace), event);
  }

  /** A run on this queue becomes claimable at `dueAt`: matching rings the queue then, not on its fallback tick. */
  workDue(namespace: string, queue: string, dueAt: Date): void {
    this.bus.publish<WorkDueEvent>(workDueSubject(namespace, queue), { namespace, queue, dueAt: dueAt.getTime() });
  }

  /** A sleeper's wake, a deadline or a cron fire is due at `dueAt`: the watchdog or scheduler arms its timer. */
  timerDue(kind: TimerKind, dueAt: Date): void {
    this.bus.publish<TimerDueEvent>(timerDueSubject(kind), { kind, dueAt: dueAt.getTime() });
  }

  /** A worker's status or registration changed: matching drops what it cached about it. */
  workerChanged(workerId: string): void {
    this.bus.publish<WorkerChangedEvent>(Patterns.workerChanged, { workerId });
  }

  /** Rings each distinct queue once and announces the runs that ended. */
  announce(
    runs: Array<{ id: string; namespace: string; queue: string; status: RunStatus; parentQueue?: string | null }>,
  ): void {
    const queues = new Map<string, { namespace: string; queue: string }>();
    for (const run of runs) {
      if (run.status === 'PENDING') queues.set(`${run.namespace}\u0000${run.queue}`, run);
      else this.runFinished(run);
    }
    for (const { namespace, queue } of queues.values()) this.workAvailable(namespace, queue);
  }
}
