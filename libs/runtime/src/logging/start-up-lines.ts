import type { Logger } from '@nestjs/common';

let level: 'log' | 'debug' = 'log';

/**
 * For a launcher that starts several apps in this process and reports them
 * in one ready line of its own (the all-in-one): from now on the apps'
 * start-up lines are debug. Their warnings stay warnings.
 */
export function summariseStartUpLines(): void {
  level = 'debug';
}

/**
 * A line an app writes once as it starts (where it listens, who may call):
 * info, or debug under a launcher that sums the apps up.
 */
export function logStartUp(logger: Logger, message: string): void {
  logger[level](message);
}
