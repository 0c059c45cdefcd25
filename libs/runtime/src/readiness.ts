import { Logger } from '@nestjs/common';
import type { OnModuleDestroy } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import type { NatsConnectionState } from '@baton/messaging';
import { EXPECTED_MIGRATION } from '@baton/persistence';
import type { SchemaRepository } from '@baton/persistence';

/** One condition of readiness: whether it holds, and what was found. */
export interface ReadinessCheck {
  ok: boolean;
  detail: string;
}

/** The body of /readyz: `failed` names the checks that keep the app out of rotation. */
export interface ReadinessReport {
  status: 'ready' | 'unavailable';
  failed: string[];
  checks: Record<string, ReadinessCheck>;
}

type Phase = 'starting' | 'started' | 'stopping';

const describe = (err: unknown) => String((err as { message?: unknown } | undefined)?.message ?? err);

/**
 * Whether this app should get traffic: it has finished starting (and is not
 * shutting down); its database answers within BATON_DB_READY_TIMEOUT and has
 * this build's last migration; and its NATS connection is up, when it uses
 * NATS. A pod on an unmigrated database, or cut off from NATS, stays out of
 * rotation instead of failing every call.
 */
export class Readiness implements OnModuleDestroy {
  private readonly logger = new Logger('Readiness');
  private phase: Phase = 'starting';
  private busState?: () => NatsConnectionState;
  /** The failed checks at the last probe, so that only changes are logged. */
  private lastFailed = '';

  constructor(
    private readonly appName: string,
    private readonly schema: SchemaRepository,
    private readonly config: BatonConfig,
  ) {}

  /** Every port listens (startApp); `busState` reads the NATS connection, absent with the in-process bus. */
  started(busState?: () => NatsConnectionState): void {
    this.phase = 'started';
    this.busState = busState;
  }

  onModuleDestroy(): void {
    this.phase = 'stopping';
  }

  async check(): Promise<ReadinessReport> {
    const checks: Record<string, ReadinessCheck> = {
      startup: { ok: this.phase === 'started', detail: this.phase },
      ...(await this.database()),
    };
    if (this.busState) {
      const state = this.busState();
      checks.nats = { ok: state === 'connected', detail: state };
    }
    const failed = Object.keys(checks).filter((name) => !checks[name]!.ok);
    this.logChange(failed, checks);
    return { status: failed.length === 0 ? 'ready' : 'unavailable', failed, checks };
  }

  /** One bounded statement answers both: does the database answer, and is it at this build's schema. */
  private async database(): Promise<Record<string, ReadinessCheck>> {
    let migrated: boolean;
    try {
      migrated = await this.schema.isMigrated(this.config.dbReadyTimeoutMs);
    } catch (err) {
      return { database: { ok: false, detail: describe(err) } };
    }
    return {
      database: { ok: true, detail: 'answered' },
      migrations: migrated
        ? { ok: true, detail: `at ${EXPECTED_MIGRATION}` }
        : {
            ok: false,
            detail: `migration ${EXPECTED_MIGRATION} is not applied: run \`pnpm migrate\` or start a frontend with BATON_RUN_MIGRATIONS=true`,
          },
    };
  }

  private logChange(failed: string[], checks: Record<string, ReadinessCheck>): void {
    const key = failed.join(',');
    if (key === this.lastFailed) return;
    this.lastFailed = key;
    if (failed.length === 0) this.logger.log(`${this.appName} is ready`);
    else if (this.phase === 'started') {
      this.logger.warn(
        `${this.appName} is not ready: ${failed.map((name) => `${name} (${checks[name]!.detail})`).join('; ')}`,
      );
    }
  }
}
