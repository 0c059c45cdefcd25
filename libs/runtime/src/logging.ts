export { BatonLogger, announce, installLogger, logLevels, resolveLogFormat } from './logging/baton-logger';
export type { LogFormat, LoggingConfig } from './logging/baton-logger';
export { addLogFields, currentLogFields, runWithLogFields } from './logging/log-context';
export type { LogFields } from './logging/log-context';
export { RepeatLimitedLogger } from './logging/repeat-limited-logger';
export type { ErrorLogger } from './logging/repeat-limited-logger';
export { logStartUp, summariseStartUpLines } from './logging/start-up-lines';
