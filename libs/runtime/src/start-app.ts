import { Logger } from '@nestjs/common';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Transport } from '@nestjs/microservices';
import type { CustomTransportStrategy, GrpcOptions } from '@nestjs/microservices';
import type { BatonConfig } from '@baton/contracts';
import { PrefixedNatsServer, createMessagingServer, describeNatsSecurity } from '@baton/messaging';
import type { InProcessBus } from '@baton/messaging';
import { ApiTraceInterceptor } from './api-trace.interceptor';
import { BatonExceptionFilter } from './error.filter';
import { GrpcDecodeErrorInterceptor, guardRequestDecoding } from './grpc-decoding';
import type { LocalDispatch } from './local-dispatch';
import { installLogger, logStartUp } from './logging';
import { Readiness } from './readiness';
import { runningApp } from './running-app';
import type { RunningApp } from './running-app';
import { loadServerTls } from './tls';
import type { ServerTls } from './tls';
import { flushingOnClose, setupTracing } from './tracing';

/** Runtime dependencies that are not configuration, shared by apps started in one process (launcher, test harness). */
export interface AppDeps {
  /** The in-process transport shared by apps in one process when no NATS_URL is set. */
  inProcessBus?: InProcessBus;
  /** Matching dispatchers in this process, for eager dispatch from the frontend (apps started together). */
  localDispatch?: LocalDispatch;
}

export interface StartAppOptions {
  name: string;
  module: DynamicModule;
  config: BatonConfig;
  deps: AppDeps;
  /** HTTP port for the API (frontend) or health/metrics (the others). */
  httpPort: number;
  /**
   * The API's gRPC server. An app with one serves the API, so BATON_TLS_*
   * applies to both its ports (gRPC and HTTPS); the others' health and
   * metrics ports stay plain HTTP, for probes inside the cluster.
   */
  grpc?: GrpcOptions['options'];
  bodyLimitBytes?: number;
  configure?: (app: INestApplication) => void;
}

/**
 * Boots one Baton app as a hybrid Nest application: HTTP (API or health),
 * the NATS (or in-process) message transport, and optionally gRPC.
 */
export async function startApp(options: StartAppOptions): Promise<RunningApp> {
  const { config } = options;
  // Settings that name files are read before any provider opens a connection, so that a bad one leaves nothing behind.
  const tls = options.grpc ? loadServerTls(config) : undefined;
  // Once per process, from OTEL_*: a no-op when the launcher already named the process (all-in-one).
  setupTracing(`baton-${options.name}`);
  const bus = createMessagingServer({ config, inProcessBus: options.deps.inProcessBus, name: `baton-${options.name}` });
  const app = await NestFactory.create<NestExpressApplication>(options.module, {
    // The process's logger (JSON or pretty, see logging.ts), named by runMain or the launcher.
    logger: installLogger(config),
    abortOnError: false,
    bodyParser: options.bodyLimitBytes === undefined,
    ...(tls ? { httpsOptions: tls.https } : {}),
  });
  try {
    if (options.bodyLimitBytes !== undefined) {
      app.useBodyParser('json', { limit: options.bodyLimitBytes });
    }
    app.useGlobalFilters(new BatonExceptionFilter());
    connectTransports(app, options, bus, tls);
    options.configure?.(app);
    await app.startAllMicroservices();
    await app.listen(options.httpPort, config.host);
    app.get(Readiness).started(bus instanceof PrefixedNatsServer ? () => bus.connectionState : undefined);
  } catch (err) {
    // A bus that refuses our credentials, a port taken: nothing of the half-started app may linger (pool, gRPC port).
    await app.close().catch(() => undefined);
    throw err;
  }
  const logger = new Logger(options.name);
  const busKind = config.natsUrl ? `NATS (${describeNatsSecurity(config)})` : 'in-process';
  logStartUp(logger, `listening on ${tls ? 'https' : 'http'}://${config.host}:${options.httpPort}; bus ${busKind}`);
  if (tls) {
    logStartUp(
      logger,
      tls.mutual
        ? 'TLS on, gRPC and HTTPS; mTLS: clients must present a certificate signed by BATON_TLS_CLIENT_CA'
        : 'TLS on, gRPC and HTTPS',
    );
  }
  return flushingOnClose(runningApp(options.name, app));
}

/** The message bus (NATS or in-process) and, for the API, gRPC. */
function connectTransports(
  app: INestApplication,
  options: StartAppOptions,
  bus: CustomTransportStrategy,
  tls: ServerTls | undefined,
): void {
  app.connectMicroservice({ strategy: bus }, { inheritAppConfig: true });
  if (!options.grpc) return;
  const grpc = options.grpc;
  const onLoad = grpc.onLoadPackageDefinition;
  // A span per API call (outermost, so it sees every refusal); undecodable or non-UTF-8 requests
  // become INVALID_ARGUMENT naming the field, not grpc-js's bare INTERNAL.
  app.useGlobalInterceptors(new ApiTraceInterceptor(), new GrpcDecodeErrorInterceptor());
  app.connectMicroservice(
    {
      transport: Transport.GRPC,
      options: {
        ...grpc,
        ...(tls ? { credentials: tls.grpc } : {}),
        onLoadPackageDefinition: (pkg: Record<string, unknown>, server: unknown) => {
          guardRequestDecoding(pkg);
          onLoad?.(pkg, server);
        },
      },
    },
    { inheritAppConfig: true },
  );
}
