export { GROUP_COMMIT, LIMITS, LIVENESS, SDK_DEFAULTS, TIMERS, ENCODING_BINARY, ENCODING_JSON } from './limits';
export type { PayloadEncoding } from './limits';
export {
  BatonError,
  ErrorCode,
  ErrorReason,
  GrpcStatus,
  GRPC_ERROR_METADATA,
  grpcStatusOf,
  httpStatusOf,
  errorCodeOfGrpcStatus,
} from './errors';
export type { BatonErrorDetails } from './errors';
export { parseDuration, parseBoundedDuration } from './durations';
export type { Duration } from './durations';
export {
  DEFAULT_RETRY_POLICY,
  RETRY_LIMITS,
  RETRY_OPTION_KEYS,
  resolveRetryPolicy,
  backoffDelayMs,
  decideRetry,
} from './retry';
export type { RetryPolicy, ResolvedRetryPolicy, RetryDecision } from './retry';
export { UUID_PATTERN, isUuid, uuidv7 } from './uuid';
export {
  Patterns,
  MATCHING_QUEUE_GROUP,
  SUBJECT_PREFIX_RE,
  encodeSubjectToken,
  decodeSubjectToken,
  workAvailableSubject,
  runFinishedSubject,
  runCancelledSubject,
  workDueSubject,
  timerDueSubject,
} from './subjects';
export type { TimerKind } from './subjects';
export {
  RunStatus,
  RUN_STATUSES,
  ACTIVE_RUN_STATUSES,
  TERMINAL_RUN_STATUSES,
  isTerminal,
  StepKind,
  StepStatus,
  PATCH_MARKER_PREFIX,
  WorkerStatus,
} from './domain';
export type { Payload, ErrorInfo, RunView, StepView, WorkerView, QueueStats, ScheduleView } from './domain';
export { errorMessage, payloadMessage, stepMessage } from './messages';
export type {
  PollRequest,
  PollReply,
  PolledTask,
  WireError,
  WorkAvailableEvent,
  RunFinishedEvent,
  RunCancelledEvent,
  WorkDueEvent,
  TimerDueEvent,
  WorkerChangedEvent,
} from './messages';
export { loadConfig, buildConfig, ConfigError, isLoopbackHost, DASHBOARD_PATH } from './config';
export type { BatonConfig, DeploymentProfile } from './config';
export {
  checkName,
  checkOptionalText,
  checkUuid,
  checkPayloadSize,
  checkInt,
  checkOptionalInt,
  checkOptionalBoolean,
  checkOptionalTime,
  checkObject,
  checkKnownFields,
  checkJsonBytes,
  describeValue,
  hasLoneSurrogate,
  isPlainObject,
  jsonTextDepth,
  loneSurrogatePath,
  memberField,
  storableText,
  tooDeepPath,
} from './validation';
export { INPUT_LIMITS, FREE_TEXT_MESSAGES } from './validation-limits';
export { checkRunsPageToken, checkSchedulesPageToken, checkStepsPageToken, isCursorTimestamp } from './page-tokens';
export { checkCron, checkTimezone, nextFireTime, dueFireTimes } from './cron';
export {
  Role,
  ROLES,
  ALL_NAMESPACES,
  API_KEYS,
  AUTH_HEADER,
  BEARER_SCHEME,
  RETRY_AFTER_METADATA,
  grantsRole,
  coversNamespace,
} from './auth';
export type { ApiKeyView, ApiKeyRevokedEvent } from './auth';
export { METRICS, WORKER_METRICS, LATENCY_BUCKETS, RUN_DURATION_BUCKETS, STEP_DURATION_BUCKETS } from './metrics';
export type {
  MetricLabel,
  MetricLabels,
  MetricDefinition,
  CounterDefinition,
  GaugeDefinition,
  HistogramDefinition,
} from './metrics';
export { LOGGING } from './limits';
export { FLOW_CONTROL, RateLimitScope } from './flow-control';
export type { ConcurrencyOption, RateLimitView } from './flow-control';
export { SIGNAL_LIMITS, signalStepId } from './signals';
export { CHILD_CANCELLED_ERROR_TYPE, CHILD_LIMITS } from './children';
export {
  TRACEPARENT_HEADER,
  TRACE_ATTRIBUTES,
  checkOptionalTraceparent,
  formatTraceparent,
  parseTraceparent,
} from './trace-context';
export type { TraceParent } from './trace-context';
export {
  OPERATOR_LIMITS,
  RUN_HISTORY_ACTIONS,
  RunHistoryAction,
  TERMINATED_ERROR_TYPE,
  checkHistoryPageToken,
} from './operator';
export type { RunHistoryView } from './operator';
