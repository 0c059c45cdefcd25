import { createServer } from 'node:net';
import type { BatonConfig } from '@baton/contracts';
import type { RunningApp } from '@baton/runtime';
import { bootstrapWatchdog } from '@baton/watchdog';
import type { TestHarness } from './test-harness';

/** A free port below the ephemeral range, as the harness picks them (see test-harness.ts). */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

/**
 * One more watchdog replica in this process, on the harness's database and
 * NATS prefix (its own health port, optionally other intervals). The caller
 * closes it, before the harness stops.
 */
export async function startWatchdogReplica(h: TestHarness, overrides: Partial<BatonConfig> = {}): Promise<RunningApp> {
  return bootstrapWatchdog({ ...h.config, watchdogHealthPort: await freePort(), ...overrides });
}
