import type { BatonConfig } from '@baton/contracts';
import { startApp } from '@baton/runtime';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { WatchdogModule } from './watchdog.module';

export { WatchdogModule };

export function bootstrapWatchdog(config: BatonConfig, deps: AppDeps = {}): Promise<RunningApp> {
  return startApp({
    name: 'watchdog',
    config,
    deps,
    httpPort: config.watchdogHealthPort,
    module: WatchdogModule.forRoot(config, deps),
  });
}
