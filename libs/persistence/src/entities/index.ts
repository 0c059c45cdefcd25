import { Column, Entity, PrimaryColumn } from 'typeorm';

/*
 * Entities describe the tables for TypeORM (metadata, migration drift checks,
 * ad-hoc tooling). Hot paths never load-modify-save them: each transition is a
 * guarded SQL statement in a repository method named for it.
 */

@Entity({ name: 'workflow_runs' })
export class WorkflowRunEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') namespace!: string;
  @Column('text', { name: 'task_queue' }) taskQueue!: string;
  @Column('text', { name: 'workflow_type' }) workflowType!: string;
  @Column('text') status!: string;
  @Column('text', { name: 'external_id', nullable: true }) externalId!: string | null;
  @Column('integer', { default: 1 }) attempt!: number;
  @Column('integer', { default: 0 }) claims!: number;
  @Column('jsonb', { name: 'retry_policy', nullable: true }) retryPolicy!: object | null;
  @Column('timestamptz', { name: 'available_at' }) availableAt!: Date;
  @Column('timestamptz', { name: 'wake_up_at', nullable: true }) wakeUpAt!: Date | null;
  @Column('uuid', { name: 'locked_by', nullable: true }) lockedBy!: string | null;
  @Column('integer', { name: 'lease_epoch', default: 0 }) leaseEpoch!: number;
  @Column('timestamptz', { name: 'locked_until', nullable: true }) lockedUntil!: Date | null;
  @Column('timestamptz', { name: 'deadline_at', nullable: true }) deadlineAt!: Date | null;
  @Column('text', { name: 'error_message', nullable: true }) errorMessage!: string | null;
  @Column('text', { name: 'error_type', nullable: true }) errorType!: string | null;
  @Column('text', { name: 'error_stack', nullable: true }) errorStack!: string | null;
  @Column('boolean', { name: 'error_non_retryable', nullable: true }) errorNonRetryable!: boolean | null;
  @Column('text', { name: 'correlation_id', nullable: true }) correlationId!: string | null;
  @Column('text', { name: 'trace_id', nullable: true }) traceId!: string | null;
  @Column('uuid', { name: 'schedule_id', nullable: true }) scheduleId!: string | null;
  @Column('timestamptz', { name: 'fire_time', nullable: true }) fireTime!: Date | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'started_at', nullable: true }) startedAt!: Date | null;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt!: Date | null;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ name: 'workflow_payloads' })
export class WorkflowPayloadEntity {
  @PrimaryColumn('uuid', { name: 'run_id' }) runId!: string;
  @Column('bytea', { nullable: true }) input!: Buffer | null;
  @Column('text', { name: 'input_encoding', nullable: true }) inputEncoding!: string | null;
  @Column('bytea', { nullable: true }) output!: Buffer | null;
  @Column('text', { name: 'output_encoding', nullable: true }) outputEncoding!: string | null;
}

@Entity({ name: 'step_runs' })
export class StepRunEntity {
  @PrimaryColumn('uuid', { name: 'run_id' }) runId!: string;
  @PrimaryColumn('text', { name: 'step_id' }) stepId!: string;
  @Column('integer') seq!: number;
  @Column('text') kind!: string;
  @Column('text') status!: string;
  @Column('integer', { default: 1 }) attempt!: number;
  @Column('bytea', { nullable: true }) output!: Buffer | null;
  @Column('text', { name: 'output_encoding', nullable: true }) outputEncoding!: string | null;
  @Column('text', { name: 'error_message', nullable: true }) errorMessage!: string | null;
  @Column('text', { name: 'error_type', nullable: true }) errorType!: string | null;
  @Column('text', { name: 'error_stack', nullable: true }) errorStack!: string | null;
  @Column('boolean', { default: false }) final!: boolean;
  @Column('timestamptz', { name: 'retry_at', nullable: true }) retryAt!: Date | null;
  @Column('timestamptz', { name: 'wake_up_at', nullable: true }) wakeUpAt!: Date | null;
  @Column('timestamptz', { name: 'started_at' }) startedAt!: Date;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt!: Date | null;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ name: 'workers' })
export class WorkerEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') namespace!: string;
  @Column('text', { name: 'task_queue' }) taskQueue!: string;
  @Column('text') hostname!: string;
  @Column('integer') pid!: number;
  @Column('text', { default: '' }) version!: string;
  @Column('text', { name: 'workflow_types', array: true }) workflowTypes!: string[];
  @Column('integer', { name: 'max_concurrent' }) maxConcurrent!: number;
  @Column('jsonb', { name: 'type_concurrency', default: {} }) typeConcurrency!: Record<string, number>;
  @Column('jsonb', { default: {} }) labels!: Record<string, string>;
  @Column('text') status!: string;
  @Column('integer', { name: 'active_count', default: 0 }) activeCount!: number;
  @Column('timestamptz', { name: 'registered_at' }) registeredAt!: Date;
  @Column('timestamptz', { name: 'last_heartbeat_at' }) lastHeartbeatAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ name: 'schedules' })
export class ScheduleEntity {
  @PrimaryColumn('uuid') id!: string;
  @Column('text') namespace!: string;
  @Column('text', { name: 'schedule_id' }) scheduleId!: string;
  @Column('text', { name: 'workflow_type' }) workflowType!: string;
  @Column('text', { name: 'task_queue' }) taskQueue!: string;
  @Column('text') cron!: string;
  @Column('text', { default: 'UTC' }) timezone!: string;
  @Column('bytea', { nullable: true }) input!: Buffer | null;
  @Column('text', { name: 'input_encoding', nullable: true }) inputEncoding!: string | null;
  @Column('integer', { name: 'max_catchup', default: 100 }) maxCatchup!: number;
  @Column('boolean', { default: false }) paused!: boolean;
  @Column('timestamptz', { name: 'next_fire_at', nullable: true }) nextFireAt!: Date | null;
  @Column('timestamptz', { name: 'last_fired_at', nullable: true }) lastFiredAt!: Date | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt!: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt!: Date;
}

@Entity({ name: 'queue_counters' })
export class QueueCounterEntity {
  @PrimaryColumn('text') namespace!: string;
  @PrimaryColumn('text', { name: 'task_queue' }) taskQueue!: string;
  @Column('bigint') pending!: string;
  @Column('bigint') running!: string;
  @Column('bigint') sleeping!: string;
}

export const ENTITIES = [
  WorkflowRunEntity,
  WorkflowPayloadEntity,
  StepRunEntity,
  WorkerEntity,
  ScheduleEntity,
  QueueCounterEntity,
];
