import { Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { MessagingModule } from '@baton/messaging';
import { ConfigModule, DatabaseModule, HealthModule, LocalDispatch } from '@baton/runtime';
import type { AppDeps } from '@baton/runtime';
import { DueTimesRepository, Sql } from '@baton/persistence';
import { DispatcherService } from './dispatch/dispatcher.service';
import { PollController } from './dispatch/poll.controller';

@Module({})
export class MatchingModule {
  static forRoot(config: BatonConfig, deps: AppDeps): DynamicModule {
    return {
      module: MatchingModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot({
          url: config.databaseUrl!,
          poolSize: config.dbPoolSize,
          appName: 'matching',
          migrate: false,
        }),
        MessagingModule.forRoot({ config, inProcessBus: deps.inProcessBus, name: 'baton-matching' }),
        HealthModule.forRoot('matching'),
      ],
      controllers: [PollController],
      providers: [
        DispatcherService,
        // Without apps sharing this process, an empty registry nobody consults.
        { provide: LocalDispatch, useValue: deps.localDispatch ?? new LocalDispatch() },
        { provide: DueTimesRepository, useFactory: (sql: Sql) => new DueTimesRepository(sql), inject: [Sql] },
      ],
    };
  }
}
