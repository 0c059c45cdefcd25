import type { ChannelOptions } from '@grpc/grpc-js';
import { LIMITS } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE } from '@baton/proto';
import { startApp } from '@baton/runtime';
import type { AppDeps, RunningApp } from '@baton/runtime';
import { FrontendModule } from './frontend.module';
import { mountDashboard } from './dashboard';
import { mountOpenApi } from './openapi';
import { reflectionHook } from './reflection';

export { FrontendModule };
export { dashboardDir } from './dashboard';

/** Starts the public API: gRPC for the SDK, HTTP/JSON under /v1 with OpenAPI at /docs, and the dashboard at /ui. */
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
      channelOptions: connectionAgeOptions(config),
      onLoadPackageDefinition: reflectionHook(config),
    },
    configure: (app) => {
      mountOpenApi(app);
      mountDashboard(app, config);
    },
  });
}

/**
 * Connections end after BATON_GRPC_MAX_CONNECTION_AGE (grpc-js adds ±10 % jitter, so
 * clients do not all reconnect at once): the client gets a GOAWAY and its next call opens
 * a new connection, which the Service may send to another replica, so replicas added by
 * a scale-up or a rollout get their share of long-lived workers and clients. Calls in
 * flight finish on the old connection: the grace is twice the longest call the server
 * holds open (a PollTask or WaitResult long poll, the former plus matching's reply time),
 * so one that arrived just before the GOAWAY still gets its answer. Streams open past it
 * (WatchCancellations) are cut, and the SDK reopens them.
 */
function connectionAgeOptions(config: BatonConfig): ChannelOptions {
  const longestCallMs = Math.max(config.pollTimeoutMs, LIMITS.maxWaitMs);
  return {
    'grpc.max_connection_age_ms': config.grpcMaxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': 2 * longestCallMs,
  };
}
