import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { MessagingModule } from '@baton/messaging';
import { ConfigModule, DatabaseModule, HealthModule, JobRunner } from '@baton/runtime';
import type { AppDeps } from '@baton/runtime';
import { DueTimesRepository, Sql } from '@baton/persistence';
import { FireSchedulesJob } from './fire-schedules.job';
import { TimerEventsController } from './timer-events.controller';

@Module({})
export class SchedulerModule {
  static forRoot(config: BatonConfig, deps: AppDeps): DynamicModule {
    return {
      module: SchedulerModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot({ url: config.databaseUrl!, poolSize: 4, appName: 'scheduler', migrate: false }),
        MessagingModule.forRoot({ config, inProcessBus: deps.inProcessBus, name: 'baton-scheduler' }),
        HealthModule.forRoot('scheduler'),
      ],
      controllers: [TimerEventsController],
      providers: [
        JobRunner,
        FireSchedulesJob,
        { provide: DueTimesRepository, useFactory: (sql: Sql) => new DueTimesRepository(sql), inject: [Sql] },
      ],
    };
  }
}
