import type { DataSource } from 'typeorm';
import { Sql } from '../sql';
import { ApiKeysRepository } from './api-keys.repository';
import { ChildrenRepository } from './children.repository';
import { ClaimRepository } from './claim.repository';
import { CountersRepository } from './counters.repository';
import { ExecutionRepository } from './execution.repository';
import { PulsesRepository } from './pulses.repository';
import { QueuesRepository } from './queues.repository';
import { RateLimitsRepository } from './rate-limits.repository';
import { RecoveryRepository } from './recovery.repository';
import { RetentionRepository } from './retention.repository';
import { SchedulesRepository } from './schedules.repository';
import { RunsRepository } from './runs.repository';
import { SignalsRepository } from './signals.repository';
import { StepsRepository } from './steps.repository';
import { WorkersRepository } from './workers.repository';

/** All repositories over one DataSource; apps provide each one they use separately. */
export class Repositories {
  readonly sql: Sql;
  readonly runs: RunsRepository;
  readonly claims: ClaimRepository;
  readonly execution: ExecutionRepository;
  readonly steps: StepsRepository;
  readonly workers: WorkersRepository;
  readonly counters: CountersRepository;
  readonly recovery: RecoveryRepository;
  readonly schedules: SchedulesRepository;
  readonly pulses: PulsesRepository;
  readonly apiKeys: ApiKeysRepository;
  readonly queues: QueuesRepository;
  readonly retention: RetentionRepository;
  readonly rateLimits: RateLimitsRepository;
  readonly children: ChildrenRepository;
  readonly signals: SignalsRepository;

  constructor(dataSource: DataSource) {
    this.sql = new Sql(dataSource);
    this.runs = new RunsRepository(this.sql);
    this.claims = new ClaimRepository(this.sql);
    this.execution = new ExecutionRepository(this.sql);
    this.steps = new StepsRepository(this.sql);
    this.workers = new WorkersRepository(this.sql);
    this.counters = new CountersRepository(this.sql);
    this.recovery = new RecoveryRepository(this.sql);
    this.schedules = new SchedulesRepository(this.sql);
    this.pulses = new PulsesRepository(this.sql);
    this.apiKeys = new ApiKeysRepository(this.sql);
    this.queues = new QueuesRepository(this.sql);
    this.retention = new RetentionRepository(this.sql);
    this.rateLimits = new RateLimitsRepository(this.sql);
    this.children = new ChildrenRepository(this.sql);
    this.signals = new SignalsRepository(this.sql);
  }
}
