import { Inject, Injectable, Logger } from '@nestjs/common';
import { LIMITS, RunStatus } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { SignalsRepository } from '@baton/persistence';
import type { CompletedStep, Lease, SignalCommand, SignalWait, SignalWaitStep } from '@baton/persistence';
import { BATON_CONFIG, BatonMetrics } from '@baton/runtime';

/** Signals: sent by clients (WorkflowService.Signal), waited for by workflows (WorkerService.WaitForSignal). */
@Injectable()
export class SignalsService {
  private readonly logger = new Logger(SignalsService.name);

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly signals: SignalsRepository,
    private readonly events: RunEvents,
    private readonly metrics: BatonMetrics,
  ) {}

  get payloadLimit(): number {
    return this.config.payloadLimitBytes;
  }

  async send(cmd: SignalCommand): Promise<{ runId: string }> {
    if (cmd.payload && cmd.payload.data.length > LIMITS.payloadWarnBytes) {
      this.logger.warn(`signal "${cmd.name}" carries ${cmd.payload.data.length} bytes: large payloads slow replays`);
    }
    const sent = await this.signals.send(cmd);
    // A woken run is claimable now. A PENDING one too, and a claim may have passed it
    // over (SKIP LOCKED) while the send held its row: ring in both cases.
    if (sent.woken || sent.status === RunStatus.PENDING) this.events.workAvailable(cmd.namespace, sent.queue);
    return { runId: sent.runId };
  }

  async waitForSignal(lease: Lease, wait: SignalWaitStep, lastStep: CompletedStep | null): Promise<SignalWait> {
    const outcome = await this.signals.waitForSignal(lease, wait, lastStep);
    if (lastStep) this.metrics.stepAttempt(lease.namespace, 'COMPLETED');
    // Parked until its timeout, like a sleeper: the watchdog and matching arm their precise timers.
    // Without a timeout nothing is due (UNTIL_WOKEN): only a signal wakes it.
    if (outcome.suspended && outcome.wakeUpAt) {
      this.events.timerDue('wake', outcome.wakeUpAt);
      this.events.workDue(lease.namespace, outcome.queue, outcome.wakeUpAt);
    }
    return outcome;
  }
}
