import { Injectable } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import { LIVENESS, uuidv7 } from '@baton/contracts';
import { PulsesRepository } from '@baton/persistence';
import { JobRunner } from '@baton/runtime';

/**
 * Tells the watchdog this frontend is up and reaching the database, so that a
 * worker's silence is judged only while it had somewhere to heartbeat to
 * (invariant 12). A restart is a new instance; a gap in its pulses (the
 * database or this process was away) restarts its "up since".
 */
@Injectable()
export class PulseService implements OnApplicationBootstrap {
  private readonly instanceId = uuidv7();

  constructor(
    private readonly pulses: PulsesRepository,
    private readonly runner: JobRunner,
  ) {}

  onApplicationBootstrap(): void {
    this.runner.schedule(
      {
        name: 'frontend-pulse',
        run: async () => {
          await this.pulses.pulse(this.instanceId, 'frontend', LIVENESS.pulseGapMs);
          return false;
        },
      },
      LIVENESS.pulseIntervalMs,
    );
  }
}
