export { ConfigModule, BATON_CONFIG } from './config.module';
export { ACCESS_METADATA, Access, Public } from './access';
export type { AccessDeclaration, AccessRule, NamespacesOf } from './access';
export { DatabaseModule } from './database.module';
export type { DatabaseModuleOptions } from './database.module';
export { HealthModule, METRICS_REGISTRY } from './health.module';
export { BatonMetrics, instrument } from './metrics';
export type { Instrument, RecoveryKind, ReleaseKind, RunLabels, StepAttemptStatus } from './metrics';
export { BatonExceptionFilter, toBatonError } from './error.filter';
export {
  BatonLogger,
  RepeatLimitedLogger,
  addLogFields,
  announce,
  currentLogFields,
  installLogger,
  logLevels,
  logStartUp,
  resolveLogFormat,
  runWithLogFields,
  summariseStartUpLines,
} from './logging';
export type { ErrorLogger, LogFields, LogFormat, LoggingConfig } from './logging';
export { Readiness } from './readiness';
export type { ReadinessCheck, ReadinessReport } from './readiness';
export { runningApp } from './running-app';
export type { RunningApp } from './running-app';
export { startApp } from './start-app';
export { GrpcDecodeErrorInterceptor, guardRequestDecoding } from './grpc-decoding';
export type { FieldDescriptor, MessageDescriptor } from './grpc-decoding';
export type { AppDeps, StartAppOptions } from './start-app';
export { loadServerTls } from './tls';
export type { ServerTls } from './tls';
export { runMain } from './run-main';
export { JobRunner } from './job-runner';
export type { Job } from './job-runner';
export { DueTimer } from './due-timer';
export { LocalDispatch } from './local-dispatch';
export type { EagerDispatcher, EagerReservation } from './local-dispatch';
export { ApiTraceInterceptor } from './api-trace.interceptor';
export {
  callTraceparent,
  contextOfTraceparent,
  createTracerProvider,
  flushTracing,
  setupTracing,
  shutdownTracing,
  traceClaim,
  traceExporters,
  traceparentOf,
} from './tracing';
export type { TraceExporterName, Tracing } from './tracing';
