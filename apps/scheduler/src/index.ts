import type { BatonConfig } from '@baton/contracts';
import { startApp } from '@baton/runtime';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { SchedulerModule } from './scheduler.module';

export { SchedulerModule };

export function bootstrapScheduler(config: BatonConfig, deps: AppDeps = {}): Promise<RunningApp> {
  return startApp({
    name: 'scheduler',
    config,
    deps,
    httpPort: config.schedulerHealthPort,
    module: SchedulerModule.forRoot(config, deps),
  });
}
