import { createServer } from 'node:net';
import type { BatonConfig } from '@baton/contracts';
import type { RunningApp } from '@baton/runtime';
import { bootstrapWatchdog } from '@baton/watchdog';
import type { TestHarness } from './test-harness';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * One more watchdog replica in this process, on the harness's database and
 * NATS prefix (its own health port, optionally other intervals). The caller
 * closes it, before the harness stops.
 */
export async function startWatchdogReplica(h: TestHarness, overrides: Partial<BatonConfig> = {}): Promise<RunningApp> {
  return bootstrapWatchdog({ ...h.config, watchdogHealthPort: await freePort(), ...overrides });
}
