import { ConsoleLogger, Logger } from '@nestjs/common';
import type { LogLevel } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { currentLogFields } from './log-context';

/** `json`: one object per line, for collectors; `pretty`: text for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

export type LoggingConfig = Pick<BatonConfig, 'logFormat' | 'logLevel'>;

const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Nest log levels up to the configured one ("info" is Nest's "log"). */
export function logLevels(level: BatonConfig['logLevel']): LogLevel[] {
  const nestLevel: LogLevel = level === 'info' ? 'log' : level;
  return ORDER.slice(0, ORDER.indexOf(nestLevel) + 1);
}

/** `auto` is pretty on a terminal and JSON anywhere else (a pipe, a file, a container's log). */
export function resolveLogFormat(
  format: BatonConfig['logFormat'],
  stdout: { isTTY?: boolean } = process.stdout,
): LogFormat {
  if (format !== 'auto') return format;
  return stdout.isTTY ? 'pretty' : 'json';
}

/** Level names as collectors and BATON_LOG_LEVEL spell them. */
const LEVEL_NAMES: Partial<Record<LogLevel, string>> = { log: 'info' };

type JsonLogOptions = Parameters<ConsoleLogger['getJsonLogObject']>[1];

/**
 * Nest's own start-up lines (each module initialised, each route mapped: some
 * 100 lines for the four apps) say nothing an app's "listening" line does not:
 * they are debug.
 */
const FRAMEWORK_START_UP = new Set([
  'NestFactory',
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestApplication',
  'NestMicroservice',
]);

/**
 * Nest's console logger with every line saying which service wrote it and
 * carrying the fields of the call it was written for (request, run, worker,
 * key: see log-context.ts). In JSON a line is
 * `{"time","level","service","context","message",...fields,"pid"}`; plain
 * objects passed after the message (`logger.debug('claimed', { runId })`)
 * become fields too.
 */
export class BatonLogger extends ConsoleLogger {
  constructor(
    readonly service: string,
    readonly format: LogFormat,
    levels: LogLevel[],
  ) {
    super({
      json: format === 'json',
      // Colour codes only where a person reads them, never in a file or a collector.
      colors: format === 'pretty' && process.stdout.isTTY === true,
      prefix: service,
      logLevels: levels,
      flattenParams: true,
    });
  }

  override log(message: unknown, ...optionalParams: unknown[]): void {
    // Nest passes the context last.
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && FRAMEWORK_START_UP.has(context)) this.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }

  /** An info line written whatever the configured level: the one line a person waits for (a launcher's ready line). */
  announce(message: string, context: string): void {
    this.printMessages([message], context, 'log', 'stdout');
  }

  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    const fields = currentLogFields();
    const merged = fields ? { ...fields, ...params } : params;
    super.printMessages(messages, context, logLevel, writeStreamType, errorStack, merged);
  }

  protected override printAsJson(message: unknown, options: JsonLogOptions): void {
    const { timestamp, level, pid, message: text, context, ...rest } = this.getJsonLogObject(message, options);
    const record: Record<string, unknown> = {
      time: new Date(timestamp).toISOString(),
      level: LEVEL_NAMES[level] ?? level,
      service: this.service,
      context,
      message: text,
    };
    // A field named like one of ours (a param called "service") does not replace it.
    for (const [key, value] of Object.entries(rest)) if (!(key in record)) record[key] = value;
    record.pid = pid;
    process[options.writeStreamType ?? 'stdout'].write(`${this.stringifyJsonLogObject(record)}\n`);
  }
}

/** Until a process names itself: several apps in one process (the test harness) are "server" like the all-in-one. */
const SHARED_PROCESS = 'server';
let processService: string | undefined;
let installed: BatonLogger | undefined;

/**
 * Makes every `new Logger(context)` in this process write through a
 * BatonLogger, with the configured format and level. `service` names the
 * process once (runMain: its app; the all-in-one launcher: "server"); later
 * calls keep that name, since Nest's logger is one per process however many
 * apps it hosts.
 */
export function installLogger(config: LoggingConfig, service?: string): BatonLogger {
  processService = service ?? processService ?? SHARED_PROCESS;
  const logger = new BatonLogger(processService, resolveLogFormat(config.logFormat), logLevels(config.logLevel));
  Logger.overrideLogger(logger);
  installed = logger;
  return logger;
}

/** {@link BatonLogger.announce} through the process's logger: written at any BATON_LOG_LEVEL. */
export function announce(message: string, context: string): void {
  if (installed) installed.announce(message, context);
  else new Logger(context).log(message);
}
