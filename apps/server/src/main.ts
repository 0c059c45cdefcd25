import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { DEFAULT_EMBEDDED_POSTGRES_PORT, startAllInOne } from './launcher';

/** `pnpm start`: every app in this process, with PostgreSQL and the bus embedded unless configured. */
function main(): void {
  let config: BatonConfig;
  let embeddedPostgresPort: number;
  try {
    config = loadConfig();
    embeddedPostgresPort = portFromEnv('BATON_EMBEDDED_PG_PORT', DEFAULT_EMBEDDED_POSTGRES_PORT);
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(2);
  }

  const logger = new Logger('server');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      // The library's 'exit' hook still signals the embedded PostgreSQL on the way out.
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    stopping = true;
    logger.log(`${signal}: shutting down`);
    // A signal during start-up waits for it to settle; a failed start cleans up after itself.
    const running = await starting.catch(() => null);
    if (!running) return;
    try {
      await running.close();
      process.exit(0);
    } catch (err) {
      logger.error(`shutdown failed: ${(err as Error)?.stack ?? err}`);
      process.exit(1);
    }
  };
  // Before anything starts, so that a signal during start-up still shuts down in order.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(signal));

  const starting = startAllInOne(config, { embeddedPostgresPort });
  starting.then(
    (running) => logger.log(running.summary),
    (err: unknown) => {
      // Ctrl-C reaches the embedded PostgreSQL too, so a start interrupted by a signal fails: not an error.
      if (stopping) {
        logger.warn(`start-up interrupted: ${(err as Error)?.message ?? err}`);
        process.exit(0);
      }
      logger.error(`failed to start: ${(err as Error)?.stack ?? err}`);
      process.exit(1);
    },
  );
}

function portFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const port = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new ConfigError([`${name}: must be a port number from 1 to 65535 (got "${value}")`]);
  return port;
}

main();
