import { Controller, Get, HttpCode, Inject, Module, ServiceUnavailableException } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { DataSource } from 'typeorm';

export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/** Liveness, readiness (the database answers) and Prometheus metrics for Kubernetes. */
@Controller()
class HealthController {
  constructor(
    @Inject(DataSource) private readonly dataSource: DataSource,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  @Get('readyz')
  async readyz(): Promise<{ status: string }> {
    try {
      await this.dataSource.query('SELECT 1');
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
