export { MIGRATIONS_TABLE, createDataSource, runMigrations } from './data-source';
export type { DataSourceOptions } from './data-source';
export { Sql, isDatabaseOutage } from './sql';
export type { Querier, Row } from './sql';
export { MIGRATIONS } from './migrations';
export { GroupCommit } from './group-commit';
export type { GroupCommitOptions } from './group-commit';
export type { Page } from './rows';
export { RunsRepository } from './repositories/runs.repository';
export type { ListRunsFilter, CancelOutcome } from './repositories/runs.repository';
export { ClaimRepository } from './repositories/claim.repository';
export { ExecutionRepository } from './repositories/execution.repository';
export { finishedRunOf } from './transitions';
export type {
  ClaimWaiter,
  ClaimedRun,
  CompletedStep,
  CreateRunCommand,
  FailureOutcome,
  FinishedRun,
  HeartbeatResult,
  Lease,
  LeaseWindows,
  MovedRun,
  RecoveryBudget,
  RunCompletion,
  Settledness,
  StepBegin,
  StepCompletion,
  StepFailure,
} from './transitions';
export { PulsesRepository } from './repositories/pulses.repository';
export { StepsRepository } from './repositories/steps.repository';
export { WorkersRepository } from './repositories/workers.repository';
export { ApiKeysRepository } from './repositories/api-keys.repository';
export type { CreateApiKeyCommand } from './repositories/api-keys.repository';
export type { RegisterWorkerCommand } from './repositories/workers.repository';
export { CountersRepository } from './repositories/counters.repository';
export { RecoveryRepository } from './repositories/recovery.repository';
export { DueTimesRepository } from './repositories/due-times.repository';
export { ChildrenRepository } from './repositories/children.repository';
export type { ChildStart, ChildStarted } from './transitions';
export { SignalsRepository } from './repositories/signals.repository';
export type { SignalCommand, SignalSent, SignalTarget, SignalWait, SignalWaitStep } from './transitions';
export { TimeSkipRepository } from './repositories/time-skip.repository';
export type { TimeSkip } from './repositories/time-skip.repository';
export { OperatorRepository } from './repositories/operator.repository';
export type { ResetOutcome, StoppedRun, TerminateOutcome } from './repositories/operator.repository';
export type { ResetCommand } from './transitions';
export { Repositories } from './repositories';
export { EXPECTED_MIGRATION, SchemaRepository } from './repositories/schema.repository';
export { SchedulesRepository } from './repositories/schedules.repository';
export type {
  CreateScheduleCommand,
  UpdateScheduleCommand,
  FirePlan,
  FiredRun,
} from './repositories/schedules.repository';
export { QueuesRepository } from './repositories/queues.repository';
export type { QueueBacklog } from './repositories/queues.repository';
export { RetentionRepository } from './repositories/retention.repository';
export { RateLimitsRepository } from './repositories/rate-limits.repository';
export type { RateLimitTarget, SetRateLimitCommand } from './repositories/rate-limits.repository';
export { MetricsRepository } from './repositories/metrics.repository';
export type { QueueGauges } from './repositories/metrics.repository';
