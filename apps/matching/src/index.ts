import type { BatonConfig } from '@baton/contracts';
import { startApp } from '@baton/runtime';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { MatchingModule } from './matching.module';

export { MatchingModule };

/** Starts matching: poll requests and doorbells over the bus, health on its own port. */
export function bootstrapMatching(config: BatonConfig, deps: AppDeps = {}): Promise<RunningApp> {
  return startApp({
    name: 'matching',
    config,
    deps,
    httpPort: config.matchingHealthPort,
    module: MatchingModule.forRoot(config, deps),
  });
}
