import type { BatonConfig } from '@baton/contracts';
import type { RunningApp } from '@baton/runtime';
import { bootstrapWatchdog } from '@baton/watchdog';
import { freePort } from './ports';
import type { TestHarness } from './test-harness';

/**
 * One more watchdog replica in this process, on the harness's database and
 * NATS prefix (its own health port, optionally other intervals). The caller
 * closes it, before the harness stops.
 */
export async function startWatchdogReplica(h: TestHarness, overrides: Partial<BatonConfig> = {}): Promise<RunningApp> {
  return bootstrapWatchdog({ ...h.config, watchdogHealthPort: await freePort(), ...overrides });
}
