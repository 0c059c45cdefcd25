import type { LogLevel } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Nest log levels up to the configured one ("info" is Nest's "log"). */
export function logLevels(level: BatonConfig['logLevel']): LogLevel[] {
  const nestLevel: LogLevel = level === 'info' ? 'log' : level;
  return ORDER.slice(0, ORDER.indexOf(nestLevel) + 1);
}
