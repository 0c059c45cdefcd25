import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from '@baton/contracts';
import { announce, installLogger, setupTracing, shutdownTracing } from '@baton/runtime';
import type { BatonConfig } from '@baton/contracts';
import { startAllInOne } from './launcher';

/**
 * `pnpm start` runs this process under pnpm, which passes the terminal's
 * Ctrl-C on to it although it got that Ctrl-C itself: a repeat this soon is
 * the same interrupt, not a second one asking to stop without waiting.
 */
const SAME_INTERRUPT_MS = 500;

/** `pnpm start`: every app in this process, with PostgreSQL and the bus embedded unless configured. */
function main(): void {
  let config: BatonConfig;
  try {
    config = loadConfig(process.env, 'all-in-one');
  } catch (err) {
    // The configuration's own format and level are not known: a terminal gets text, anything else JSON.
    installLogger({ logFormat: 'auto', logLevel: 'info' }, 'server');
    new Logger('server').fatal(`bad configuration: ${err instanceof ConfigError ? err.message : String(err)}`);
    process.exit(2);
  }

  installLogger(config, 'server');
  // Before the apps start: their spans belong to one service, `baton` (unless OTEL_SERVICE_NAME says otherwise).
  setupTracing('baton');
  const logger = new Logger('server');
  const fail = (what: string, err: unknown) => {
    // Start-up failures are mostly environmental (a port taken, a directory in use): the message says it all.
    logger.error(`${what}: ${(err as Error)?.message ?? err}`);
    logger.debug((err as Error)?.stack ?? '');
  };
  let stoppingSince: number | undefined;
  const stop = async (signal: string) => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < SAME_INTERRUPT_MS) return;
      // The embedded PostgreSQL is still signalled by its 'exit' hook.
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.log(`${signal}: shutting down`);
    // A signal during start-up waits for it to settle; a failed start cleans up after itself.
    const running = await starting.catch(() => null);
    if (!running) return;
    try {
      await running.close();
      await shutdownTracing();
      // A clean stop is a success: pnpm reports "Command failed" for any other exit.
      process.exit(0);
    } catch (err) {
      fail('shutdown failed', err);
      process.exit(1);
    }
  };
  // Before anything starts, so that a signal during start-up still shuts down in order.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));

  const starting = startAllInOne(config);
  starting.then(
    (running) => {
      logger.log(running.dataLine);
      // What a person waits for, so it is written whatever BATON_LOG_LEVEL says.
      if (stoppingSince === undefined) announce(running.readyLine, 'server');
    },
    (err: unknown) => {
      if (stoppingSince !== undefined) {
        logger.warn(`start-up interrupted: ${(err as Error)?.message ?? err}`);
        process.exit(0);
      }
      fail('failed to start', err);
      process.exit(1);
    },
  );
}

main();
