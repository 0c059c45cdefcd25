import type { Duration } from '@baton/contracts';
import { Client } from '@baton/sdk';
import type { ClientOptions, WorkflowRun } from '@baton/sdk';
import type { TimeSkipper } from './time-skipper';

/**
 * A Client whose waits for a result skip time whenever the environment is
 * idle (automatic time skipping); `result` waits through `waitForTerminal`,
 * so both do. Everything else is the SDK's Client unchanged.
 */
export class TestClient extends Client {
  constructor(
    options: ClientOptions,
    private readonly skipper: TimeSkipper | null,
  ) {
    super(options);
  }

  override waitForTerminal(runId: string, timeout?: Duration): Promise<WorkflowRun> {
    const waiting = super.waitForTerminal(runId, timeout);
    return this.skipper ? this.skipper.during(waiting) : waiting;
  }
}
