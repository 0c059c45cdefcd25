import { resolve } from 'node:path';
import { Logger } from '@nestjs/common';
import { DASHBOARD_PATH, isLoopbackHost } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { bootstrapFrontend, dashboardDir } from '@baton/frontend';
import { bootstrapMatching } from '@baton/matching';
import { InProcessBus } from '@baton/messaging';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { LocalDispatch, installLogger, summariseStartUpLines } from '@baton/runtime';
import { bootstrapScheduler } from '@baton/scheduler';
import { bootstrapWatchdog } from '@baton/watchdog';
import { startEmbeddedDatabase } from './embedded-database';
import type { EmbeddedDatabase } from './embedded-database';

const EMBEDDED_DATABASE_NAME = 'baton';

export interface AllInOneOptions {
  /** Port of the embedded PostgreSQL (used only without DATABASE_URL). Default 5433: 5432 is often a system server. */
  embeddedPostgresPort?: number;
  /** Base of a relative BATON_DATA_DIR. Default process.cwd(). */
  cwd?: string;
}

export interface AllInOne {
  /** The config the apps run with: databaseUrl filled in when the database is embedded. */
  config: BatonConfig;
  apps: RunningApp[];
  /** Set when this process runs PostgreSQL itself. */
  embeddedDatabase: EmbeddedDatabase | null;
  transport: 'nats' | 'in-process';
  /** Where the data is kept and how the apps talk: the line before the ready line. */
  dataLine: string;
  /** The line start-up ends with: where to connect, and who may. */
  readyLine: string;
  /** Closes the apps in reverse start order, then stops the embedded database. Idempotent. */
  close(): Promise<void>;
}

// Frontend first: it applies migrations before anything else touches the schema.
const BOOTSTRAPS: Array<(config: BatonConfig, deps: AppDeps) => Promise<RunningApp>> = [
  bootstrapFrontend,
  bootstrapMatching,
  bootstrapScheduler,
  bootstrapWatchdog,
];

/**
 * The four apps in one process: PostgreSQL embedded when DATABASE_URL is
 * unset, the in-process bus when NATS_URL is unset.
 */
export async function startAllInOne(config: BatonConfig, options: AllInOneOptions = {}): Promise<AllInOne> {
  // Before the first app exists, so the launcher's own lines follow BATON_LOG_LEVEL and BATON_LOG_FORMAT too;
  // the four apps share this process, so its lines are the service "server" (the context names the part).
  installLogger(config, 'server');
  // The apps' own "listening" lines would repeat what the ready line says, four times.
  summariseStartUpLines();
  const logger = new Logger('server');
  const apps: RunningApp[] = [];
  let embeddedDatabase: EmbeddedDatabase | null = null;
  let closing: Promise<void> | undefined;

  const close = () =>
    (closing ??= (async () => {
      for (const app of [...apps].reverse()) {
        await app.close().catch((err: unknown) => logger.error(`closing ${app.name}: ${(err as Error)?.stack ?? err}`));
      }
      await embeddedDatabase?.stop();
    })());

  try {
    let databaseUrl = config.databaseUrl;
    if (!databaseUrl) {
      embeddedDatabase = await startEmbeddedDatabase({
        dir: resolve(options.cwd ?? process.cwd(), config.dataDir, 'postgres'),
        port: options.embeddedPostgresPort ?? config.embeddedPostgresPort,
        database: EMBEDDED_DATABASE_NAME,
        log: (message) => logger.log(message),
        warn: (message) => logger.warn(message),
        onServerLog: config.logLevel === 'debug' ? (line) => logger.debug(line, 'postgres') : undefined,
        onExit: (description) => {
          if (!closing) logger.error(`${description}: the apps cannot reach the database; restart Baton`);
        },
      });
      databaseUrl = embeddedDatabase.url;
    }
    const effective: BatonConfig = Object.freeze({ ...config, databaseUrl });
    // Frontend and matching share this process: a start can hand its run straight to a waiting poll.
    const deps: AppDeps = {
      localDispatch: new LocalDispatch(),
      ...(effective.natsUrl ? {} : { inProcessBus: new InProcessBus() }),
    };
    for (const bootstrap of BOOTSTRAPS) apps.push(await bootstrap(effective, deps));
    return {
      config: effective,
      apps,
      embeddedDatabase,
      transport: effective.natsUrl ? 'nats' : 'in-process',
      dataLine: describeData(effective, embeddedDatabase),
      readyLine: describeReady(effective),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function describeData(config: BatonConfig, embedded: EmbeddedDatabase | null): string {
  const database = embedded
    ? `embedded PostgreSQL ${embedded.url} (files in ${embedded.dir})`
    : `PostgreSQL ${redact(config.databaseUrl!)}`;
  const transport = config.natsUrl ? `NATS ${redact(config.natsUrl)}` : 'in-process (no NATS_URL)';
  return `database: ${database}; bus: ${transport}`;
}

function describeReady(config: BatonConfig): string {
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? 'localhost' : config.host;
  const http = `${config.tlsCertFile ? 'https' : 'http'}://${host}:${config.httpPort}`;
  const auth =
    config.auth === 'required'
      ? 'API keys required'
      : isLoopbackHost(config.host)
        ? `auth off: it listens on ${config.host} only`
        : `auth OFF: anyone on the network may call (BATON_HOST=${config.host})`;
  const grpc = `${host}:${config.grpcPort}${config.tlsCertFile ? ' (TLS)' : ''}`;
  // Named only when it is there: BATON_UI=false, or a frontend run without its build, serves none.
  const dashboard = config.ui && dashboardDir() ? `, dashboard ${http}${DASHBOARD_PATH}/` : '';
  return `Baton is ready: gRPC ${grpc}, HTTP ${http}${dashboard}, API docs ${http}/docs; ${auth}`;
}

/** Credentials in a URL the user supplied never reach the logs. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
