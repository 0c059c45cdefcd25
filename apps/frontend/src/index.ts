import type { BatonConfig } from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE } from '@baton/proto';
import { startApp } from '@baton/runtime';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { FrontendModule } from './frontend.module';
import { mountOpenApi } from './openapi';

export { FrontendModule };

/** Starts the public API: gRPC for the SDK, HTTP/JSON under /v1 with OpenAPI at /docs. */
export function bootstrapFrontend(config: BatonConfig, deps: AppDeps = {}): Promise<RunningApp> {
  return startApp({
    name: 'frontend',
    config,
    deps,
    httpPort: config.httpPort,
    module: FrontendModule.forRoot(config, deps),
    // Room for a payload at the limit as base64 or escaped JSON; larger bodies get 413.
    bodyLimitBytes: config.payloadLimitBytes * 2 + 1024 * 1024,
    grpc: {
      package: PROTO_PACKAGE,
      protoPath: PROTO_FILES,
      url: `${config.host}:${config.grpcPort}`,
      loader: PROTO_LOADER_OPTIONS,
      // Inputs up to 3x the payload limit reach validation and get a clear error.
      maxReceiveMessageLength: config.payloadLimitBytes * 3,
      maxSendMessageLength: 256 * 1024 * 1024,
    },
    configure: mountOpenApi,
  });
}
