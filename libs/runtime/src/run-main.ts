import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import type { RunningApp } from './running-app';

/**
 * Entry point of an app running as its own process (containers, child-process
 * tests): config from the environment, a clear message on bad config, and a
 * graceful stop on SIGTERM/SIGINT.
 */
export function runMain(name: string, bootstrap: (config: BatonConfig) => Promise<RunningApp>): void {
  const logger = new Logger(name);
  let config: BatonConfig;
  try {
    config = loadConfig();
    if (!config.databaseUrl || !config.natsUrl) {
      throw new ConfigError([
        `DATABASE_URL and NATS_URL are required when ${name} runs as its own process (use \`pnpm start\` for all-in-one)`,
      ]);
    }
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  bootstrap(config).then(
    (running) => {
      const stop = (signal: string) => {
        logger.log(`${signal}: shutting down`);
        running.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error(err);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    },
    (err: unknown) => {
      logger.error(`failed to start: ${(err as Error).stack ?? err}`);
      process.exit(1);
    },
  );
}
