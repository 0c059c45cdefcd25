import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { MessagingModule } from '@baton/messaging';
import { ConfigModule, DatabaseModule, HealthModule, JobRunner } from '@baton/runtime';
import type { AppDeps } from '@baton/runtime';
import { DueTimesRepository, Sql } from '@baton/persistence';
import { RetentionJob } from './jobs/retention.job';
import { TimerEventsController } from './jobs/timer-events.controller';
import { WatchdogJobs } from './jobs/watchdog.jobs';

@Module({})
export class WatchdogModule {
  static forRoot(config: BatonConfig, deps: AppDeps): DynamicModule {
    return {
      module: WatchdogModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot({ url: config.databaseUrl!, poolSize: 4, appName: 'watchdog', migrate: false }),
        MessagingModule.forRoot({ config, inProcessBus: deps.inProcessBus, name: 'baton-watchdog' }),
        HealthModule.forRoot('watchdog'),
      ],
      controllers: [TimerEventsController],
      providers: [
        JobRunner,
        WatchdogJobs,
        { provide: DueTimesRepository, useFactory: (sql: Sql) => new DueTimesRepository(sql), inject: [Sql] },
        RetentionJob,
      ],
    };
  }
}
