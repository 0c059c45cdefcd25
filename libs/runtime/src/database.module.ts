import { Global, Inject, Logger, Module } from '@nestjs/common';
import type { DynamicModule, OnApplicationShutdown } from '@nestjs/common';
import {
  ApiKeysRepository,
  ChildrenRepository,
  ClaimRepository,
  CountersRepository,
  ExecutionRepository,
  PulsesRepository,
  QueuesRepository,
  RateLimitsRepository,
  RecoveryRepository,
  RetentionRepository,
  Repositories,
  SchedulesRepository,
  RunsRepository,
  SignalsRepository,
  Sql,
  StepsRepository,
  WorkersRepository,
  createDataSource,
  runMigrations,
} from '@baton/persistence';
import type { BatonConfig } from '@baton/contracts';
import { DataSource } from 'typeorm';
import { BATON_CONFIG } from './config.module';

export interface DatabaseModuleOptions {
  url: string;
  poolSize: number;
  appName: string;
  /** Apply pending migrations at start (the frontend does; guarded by an advisory lock). */
  migrate: boolean;
}

class DataSourceCloser implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/** The app's one DataSource and every repository as its own provider (inject only what you use). */
@Global()
@Module({})
export class DatabaseModule {
  static forRoot(options: DatabaseModuleOptions): DynamicModule {
    const repositories = [
      RunsRepository,
      ClaimRepository,
      ExecutionRepository,
      StepsRepository,
      WorkersRepository,
      CountersRepository,
      RecoveryRepository,
      SchedulesRepository,
      PulsesRepository,
      ApiKeysRepository,
      QueuesRepository,
      RetentionRepository,
      ChildrenRepository,
      SignalsRepository,
      RateLimitsRepository,
    ] as const;
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DataSource,
          useFactory: async (config: BatonConfig) => {
            const dataSource = createDataSource({
              url: options.url,
              poolSize: options.poolSize,
              applicationName: `baton-${options.appName}`,
              connectTimeoutMs: config.dbConnectTimeoutMs,
              queryTimeoutMs: config.dbQueryTimeoutMs,
            });
            await dataSource.initialize();
            if (options.migrate) {
              const applied = await runMigrations(dataSource);
              if (applied.length) new Logger('Database').log(describeApplied(applied));
            }
            return dataSource;
          },
          // Every app imports ConfigModule (global) next to this one.
          inject: [BATON_CONFIG],
        },
        { provide: Repositories, useFactory: (ds: DataSource) => new Repositories(ds), inject: [DataSource] },
        { provide: Sql, useFactory: (r: Repositories) => r.sql, inject: [Repositories] },
        ...repositories.map((token) => ({
          provide: token,
          useFactory: (r: Repositories) => Object.values(r).find((repo) => repo instanceof token),
          inject: [Repositories],
        })),
        DataSourceCloser,
      ],
      exports: [DataSource, Sql, ...repositories],
    };
  }
}

/** A fresh database takes every migration: its line names how many and the last, an upgrade's names each. */
function describeApplied(applied: string[]): string {
  return applied.length <= 3
    ? `applied migrations: ${applied.join(', ')}`
    : `applied ${applied.length} migrations, up to ${applied[applied.length - 1]}`;
}
