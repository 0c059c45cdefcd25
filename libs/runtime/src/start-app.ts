import { Logger } from '@nestjs/common';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Transport } from '@nestjs/microservices';
import type { GrpcOptions } from '@nestjs/microservices';
import type { BatonConfig } from '@baton/contracts';
import { createMessagingServer } from '@baton/messaging';
import type { InProcessBus } from '@baton/messaging';
import { BatonExceptionFilter } from './error.filter';
import { GrpcDecodeErrorInterceptor, guardRequestDecoding } from './grpc-decoding';
import type { LocalDispatch } from './local-dispatch';
import { logLevels } from './logging';
import { runningApp } from './running-app';
import type { RunningApp } from './running-app';

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
  const app = await NestFactory.create<NestExpressApplication>(options.module, {
    logger: logLevels(config.logLevel),
    abortOnError: false,
    bodyParser: options.bodyLimitBytes === undefined,
  });
  if (options.bodyLimitBytes !== undefined) {
    app.useBodyParser('json', { limit: options.bodyLimitBytes });
  }
  app.useGlobalFilters(new BatonExceptionFilter());
  app.connectMicroservice(
    {
      strategy: createMessagingServer({
        natsUrl: config.natsUrl,
        inProcessBus: options.deps.inProcessBus,
        subjectPrefix: config.subjectPrefix,
        name: `baton-${options.name}`,
      }),
    },
    { inheritAppConfig: true },
  );
  if (options.grpc) {
    const grpc = options.grpc;
    const onLoad = grpc.onLoadPackageDefinition;
    // Undecodable or non-UTF-8 requests become INVALID_ARGUMENT naming the field, not grpc-js's bare INTERNAL.
    app.useGlobalInterceptors(new GrpcDecodeErrorInterceptor());
    app.connectMicroservice(
      {
        transport: Transport.GRPC,
        options: {
          ...grpc,
          onLoadPackageDefinition: (pkg: Record<string, unknown>, server: unknown) => {
            guardRequestDecoding(pkg);
            onLoad?.(pkg, server);
          },
        },
      },
      { inheritAppConfig: true },
    );
  }
  options.configure?.(app);
  await app.startAllMicroservices();
  await app.listen(options.httpPort, config.host);
  new Logger(options.name).log(`listening on ${config.host}:${options.httpPort}`);
  return runningApp(options.name, app);
}
