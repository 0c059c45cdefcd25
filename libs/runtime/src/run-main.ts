import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { installLogger } from './logging';
import type { RunningApp } from './running-app';

/** Before the configuration is read: its format and level are not known yet. */
const DEFAULT_LOGGING = { logFormat: 'auto', logLevel: 'info' } as const;

/**
 * Entry point of an app running as its own process (containers, child-process
 * tests): config from the environment, a clear message on bad config, and a
 * graceful stop on SIGTERM/SIGINT. Every line this process writes names `name`
 * as its service.
 */
export function runMain(name: string, bootstrap: (config: BatonConfig) => Promise<RunningApp>): void {
  let config: BatonConfig;
  try {
    config = loadConfig();
    if (!config.databaseUrl || !config.natsUrl) {
      throw new ConfigError([
        `DATABASE_URL and NATS_URL are required when ${name} runs as its own process (use \`pnpm start\` for all-in-one)`,
      ]);
    }
  } catch (err) {
    installLogger(DEFAULT_LOGGING, name);
    new Logger(name).fatal(`bad configuration: ${(err as Error).message}`);
    process.exit(2);
  }
  installLogger(config, name);
  const logger = new Logger(name);
  bootstrap(config).then(
    (running) => {
      const stop = (signal: string) => {
        logger.log(`${signal}: shutting down`);
        running.close().then(
          () => process.exit(0),
          (err: unknown) => {
            logger.error(`shutdown failed: ${(err as Error)?.stack ?? err}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    },
    (err: unknown) => {
      logger.error(`failed to start: ${(err as Error)?.stack ?? err}`);
      process.exit(1);
    },
  );
}
