import { Injectable } from '@nestjs/common';
import { RunEvents } from '@baton/messaging';
import { ChildrenRepository } from '@baton/persistence';
import type { ChildStart, ChildStarted, Lease } from '@baton/persistence';
import { BatonMetrics } from '@baton/runtime';

/** ctx.child (WorkerService.StartChild), shared by the gRPC and HTTP controllers. */
@Injectable()
export class ChildrenService {
  constructor(
    private readonly children: ChildrenRepository,
    private readonly events: RunEvents,
    private readonly metrics: BatonMetrics,
  ) {}

  /**
   * Starts (or finds) the step's child and records the step, parking the
   * parent if asked. A child inserted now is PENDING on its queue: rung, and
   * its deadline armed, as a client's start is. A parked parent needs no
   * doorbell: the child's finish wakes it and rings its queue.
   */
  async startChild(lease: Lease, cmd: ChildStart): Promise<ChildStarted> {
    const started = await this.children.startChild(lease, cmd);
    if (started.created) {
      const { id, queue, deadlineAt } = started.child;
      this.metrics.runStarted({ id, namespace: lease.namespace, queue, workflowType: cmd.workflowType });
      this.events.workAvailable(lease.namespace, queue);
      if (deadlineAt) this.events.timerDue('deadline', deadlineAt);
    }
    return started;
  }
}
