import { Module } from '@nestjs/common';
import { APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { MessagingModule } from '@baton/messaging';
import { OperatorRepository, Sql } from '@baton/persistence';
import { ConfigModule, DatabaseModule, HealthModule, JobRunner, LocalDispatch } from '@baton/runtime';
import type { AppDeps } from '@baton/runtime';
import { AdminGrpcController, AdminHttpController } from './admin/admin.controllers';
import { ApiKeyRevokedListener } from './auth/api-key-revoked.listener';
import { ApiKeysGrpcController, ApiKeysHttpController } from './auth/api-keys.controllers';
import { ApiKeys } from './auth/api-keys.service';
import { ChildrenGrpcController } from './children/children.grpc.controller';
import { ChildrenHttpController } from './children/children.http.controller';
import { ChildrenService } from './children/children.service';
import { AuthGuard } from './auth/auth.guard';
import { RateLimitsGrpcController, RateLimitsHttpController } from './flow-control/rate-limits.controllers';
import { RateLimiter } from './auth/rate-limiter';
import { PulseService } from './liveness/pulse.service';
import { OperatorGrpcController } from './operator/operator.grpc.controller';
import { OperatorHttpController } from './operator/operator.http.controller';
import { OperatorService } from './operator/operator.service';
import { RequestContextInterceptor } from './edge/request-context';
import { SchedulesGrpcController, SchedulesHttpController } from './schedules/schedules.controllers';
import { SchedulesService } from './schedules/schedules.service';
import { SignalWaitsGrpcController, SignalWaitsHttpController } from './signals/signal-waits.controllers';
import { SignalsGrpcController, SignalsHttpController } from './signals/signals.controllers';
import { SignalsService } from './signals/signals.service';
import { CancellationFeeds } from './workers/cancellation-feeds.service';
import { PollLimitInterceptor } from './workers/poll-limit.interceptor';
import { RunCancelledListener } from './workers/run-cancelled.listener';
import { WorkerProtocolService } from './workers/worker-protocol.service';
import { WorkersGrpcController } from './workers/workers.grpc.controller';
import { WorkersHttpController } from './workers/workers.http.controller';
import { ResultWaiters } from './workflows/result-waiters';
import { RunFinishedListener } from './workflows/run-finished.listener';
import { WorkflowsGrpcController } from './workflows/workflows.grpc.controller';
import { WorkflowsHttpController } from './workflows/workflows.http.controller';
import { WorkflowsService } from './workflows/workflows.service';

@Module({})
export class FrontendModule {
  static forRoot(config: BatonConfig, deps: AppDeps): DynamicModule {
    return {
      module: FrontendModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule.forRoot({
          url: config.databaseUrl!,
          poolSize: config.dbPoolSize,
          appName: 'frontend',
          migrate: config.runMigrations,
        }),
        MessagingModule.forRoot({ config, inProcessBus: deps.inProcessBus, name: 'baton-frontend' }),
        HealthModule.forRoot('frontend'),
      ],
      controllers: [
        WorkflowsGrpcController,
        WorkflowsHttpController,
        RunFinishedListener,
        WorkersGrpcController,
        WorkersHttpController,
        RunCancelledListener,
        AdminGrpcController,
        AdminHttpController,
        SchedulesGrpcController,
        SchedulesHttpController,
        ApiKeysGrpcController,
        ApiKeysHttpController,
        RateLimitsGrpcController,
        RateLimitsHttpController,
        ApiKeyRevokedListener,
        ChildrenGrpcController,
        ChildrenHttpController,
        SignalsGrpcController,
        SignalsHttpController,
        SignalWaitsGrpcController,
        SignalWaitsHttpController,
        OperatorGrpcController,
        OperatorHttpController,
      ],
      providers: [
        ApiKeys,
        RateLimiter,
        // Every API call, HTTP and gRPC, is authenticated and authorized here (invariant 13).
        { provide: APP_GUARD, useClass: AuthGuard },
        // Request id, run, worker and key on every log line of an API call.
        { provide: APP_INTERCEPTOR, useClass: RequestContextInterceptor },
        WorkflowsService,
        ResultWaiters,
        WorkerProtocolService,
        CancellationFeeds,
        PollLimitInterceptor,
        SchedulesService,
        ChildrenService,
        SignalsService,
        OperatorService,
        { provide: OperatorRepository, useFactory: (sql: Sql) => new OperatorRepository(sql), inject: [Sql] },
        JobRunner,
        PulseService,
        // Matching in this process, if any (eager dispatch); otherwise an empty registry.
        { provide: LocalDispatch, useValue: deps.localDispatch ?? new LocalDispatch() },
      ],
    };
  }
}
