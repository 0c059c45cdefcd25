import { Controller, Get, HttpCode, Inject, Module, ServiceUnavailableException } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { Sql } from '@baton/persistence';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { Public } from './access';
import { BATON_CONFIG } from './config.module';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** Liveness, readiness (the database answers) and Prometheus metrics for Kubernetes: probes carry no keys. */
@Public()
@Controller()
class HealthController {
  constructor(
    @Inject(Sql) private readonly sql: Sql,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  /**
   * 503 while the database is unreachable or silent: bounded by its own short
   * timeout (BATON_DB_READY_TIMEOUT), not the query timeout, so a hung
   * database takes the service out of rotation at once.
   */
  @Get('readyz')
  async readyz(): Promise<{ status: string }> {
    try {
      await this.sql.ping(this.config.dbReadyTimeoutMs);
      return { status: 'ready' };
    } catch {
      throw new ServiceUnavailableException('database unreachable');
    }
  }

  @Get('metrics')
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

@Module({})
export class HealthModule {
  static forRoot(appName: string): DynamicModule {
    return {
      module: HealthModule,
      global: true,
      controllers: [HealthController],
      providers: [
        {
          provide: METRICS_REGISTRY,
          useFactory: () => {
            // One registry per app: the all-in-one process hosts four apps.
            const registry = new Registry();
            registry.setDefaultLabels({ app: appName });
            collectDefaultMetrics({ register: registry });
            return registry;
          },
        },
      ],
      exports: [METRICS_REGISTRY],
    };
  }
}
