import { Controller, Get, HttpCode, Inject, Module, Res } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { SchemaRepository, Sql } from '@baton/persistence';
import type { Response } from 'express';
import type { Registry } from 'prom-client';
import { Public } from './access';
import { BATON_CONFIG } from './config.module';
import { BatonMetrics, METRICS_REGISTRY, createRegistry } from './metrics';
import { Readiness } from './readiness';
import type { ReadinessReport } from './readiness';

export { METRICS_REGISTRY };

/** Liveness, readiness (see Readiness) and Prometheus metrics for Kubernetes: probes carry no keys. */
@Public()
@Controller()
class HealthController {
  constructor(
    @Inject(Readiness) private readonly readiness: Readiness,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: string } {
    return { status: 'ok' };
  }

  /**
   * 503 naming the failed checks until the app has started, while its
   * database is unreachable, silent (bounded by BATON_DB_READY_TIMEOUT, not
   * the query timeout, so a hung database takes the service out of rotation
   * at once) or not migrated, and while its NATS connection is down.
   */
  @Get('readyz')
  async readyz(@Res({ passthrough: true }) res: Response): Promise<ReadinessReport> {
    const report = await this.readiness.check();
    if (report.status !== 'ready') res.status(503);
    return report;
  }

  /** Prometheus text format, with the type the registry writes (Prometheus 3 refuses text/html). */
  @Get('metrics')
  async metrics(@Res({ passthrough: true }) res: Response): Promise<string> {
    const body = await this.registry.metrics();
    res.setHeader('Content-Type', this.registry.contentType);
    return body;
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
        // One registry per app: the all-in-one process hosts four apps.
        { provide: METRICS_REGISTRY, useFactory: () => createRegistry(appName) },
        BatonMetrics,
        {
          provide: Readiness,
          useFactory: (sql: Sql, config: BatonConfig) => new Readiness(appName, new SchemaRepository(sql), config),
          inject: [Sql, BATON_CONFIG],
        },
      ],
      exports: [METRICS_REGISTRY, BatonMetrics, Readiness],
    };
  }
}
