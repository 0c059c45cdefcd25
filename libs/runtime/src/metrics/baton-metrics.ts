import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { ClientProxy } from '@nestjs/microservices';
import { METRICS } from '@baton/contracts';
import { BUS_CLIENT } from '@baton/messaging';
import { MetricsRepository, Sql } from '@baton/persistence';
import type { ClaimedRun, FinishedRun, FiredRun, MovedRun, QueueGauges } from '@baton/persistence';
import type { Registry } from 'prom-client';
import type { Subscription } from 'rxjs';
import { METRICS_REGISTRY } from './registry';
import { instrument } from './instruments';

/** Why the watchdog took a run back (see baton_recoveries_total). */
export type RecoveryKind = 'lease_expired' | 'worker_stale' | 'deadline';

/** Why a claim was handed back unreceived (see baton_claims_released_total). */
export type ReleaseKind = 'caller_gone' | 'unanswered';

/** Step attempts as the server records them (see baton_step_attempts_total). */
export type StepAttemptStatus = 'COMPLETED' | 'RETRYING' | 'FAILED';

/** A run as lifecycle logs and run-level labels describe it. */
export interface RunLabels {
  id: string;
  namespace: string;
  queue: string;
  workflowType: string;
}

const describe = (run: RunLabels) => `run ${run.id} (${run.namespace}/${run.queue}, ${run.workflowType})`;

/**
 * The app's metrics (its METRICS_REGISTRY) and the run lifecycle's debug log
 * lines, called where each thing happens: one call per instrumentation point
 * does both. Labels are the bounded ones of libs/contracts/src/metrics.ts;
 * run ids go to the log lines only.
 */
@Injectable()
export class BatonMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('RunLifecycle');
  private busWatch?: Subscription;

  constructor(
    @Inject(METRICS_REGISTRY) readonly registry: Registry,
    @Inject(Sql) private readonly sql: Sql,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {
    // Present from the start (at 0), so that rate() sees the first outage.
    const unavailable = instrument(registry, METRICS.databaseUnavailable);
    sql.onUnavailable = () => unavailable.inc();
  }

  onApplicationBootstrap(): void {
    this.watchBus();
  }

  onApplicationShutdown(): void {
    this.busWatch?.unsubscribe();
  }

  /** A run lifecycle line, built only when debug lines are written: these calls sit on the claim and completion paths. */
  private lifecycle(line: () => string): void {
    if (Logger.isLevelEnabled('debug')) this.logger.debug(line());
  }

  /** Terminal runs retention deleted (watchdog). */
  runsPurged(count: number): void {
    instrument(this.registry, METRICS.runsPurged).inc(count);
  }

  runStarted(run: RunLabels, how: 'started' | 'fired' = 'started'): void {
    instrument(this.registry, METRICS.runsStarted).inc(this.runLabels(run));
    this.lifecycle(() => `${describe(run)} ${how}`);
  }

  /** Runs claimed for workers on one queue (matching's claims, or eager dispatch at start). */
  runsClaimed(namespace: string, queue: string, runs: readonly ClaimedRun[]): void {
    if (runs.length === 0) return;
    const claims = instrument(this.registry, METRICS.claims);
    const waited = instrument(this.registry, METRICS.scheduleToStart);
    for (const run of runs) {
      const labels = { namespace, queue, workflow_type: run.workflowType };
      claims.inc(labels);
      waited.observe(labels, run.waitedS ?? 0);
      this.lifecycle(
        () =>
          `${describe({ id: run.runId, namespace, queue, workflowType: run.workflowType })} claimed by worker ${run.workerId} (attempt ${run.attempt}, claim ${run.claims})`,
      );
    }
  }

  runFinished(run: FinishedRun): void {
    const labels = { ...this.runLabels(run), status: run.status };
    instrument(this.registry, METRICS.runsFinished).inc(labels);
    instrument(this.registry, METRICS.runDuration).observe(labels, Math.max(0, run.durationS));
    this.lifecycle(() => `${describe(run)} finished ${run.status} after ${run.durationS.toFixed(3)} s`);
  }

  claimReleased(runId: string, released: { namespace: string; queue: string }, kind: ReleaseKind): void {
    instrument(this.registry, METRICS.claimsReleased).inc({ ...released, kind });
    this.lifecycle(() => `run ${runId} (${released.namespace}/${released.queue}) claim handed back: ${kind}`);
  }

  /**
   * Runs a watchdog job moved: recoveries by kind (a lease that expired on an
   * unacknowledged claim counts as `undelivered`), and the runs it made
   * terminal as finished.
   */
  recovered(kind: RecoveryKind, runs: readonly MovedRun[]): void {
    if (runs.length === 0) return;
    const counter = instrument(this.registry, METRICS.recoveries);
    for (const run of runs) {
      const actual = run.delivered === false ? 'undelivered' : kind;
      counter.inc({ namespace: run.namespace, queue: run.queue, kind: actual, status: run.status });
      this.lifecycle(() => `run ${run.id} (${run.namespace}/${run.queue}) recovered (${actual}): now ${run.status}`);
      if (run.finished) this.runFinished(run.finished);
    }
  }

  /** Runs whose due time was served (sleepers woken, deadlines failed, cron fires), each `lateS` seconds late. */
  timersServed(kind: 'wake' | 'deadline' | 'cron', runs: ReadonlyArray<{ lateS?: number }>): void {
    if (runs.length === 0) return;
    const histogram = instrument(this.registry, METRICS.timerLateness);
    for (const { lateS } of runs) if (lateS !== undefined) histogram.observe({ kind }, Math.max(0, lateS));
  }

  stepAttempt(namespace: string, status: StepAttemptStatus): void {
    instrument(this.registry, METRICS.stepAttempts).inc({ namespace, status });
  }

  /** Runs cron schedules fired: started runs, fires by kind, and how late each latest fire time was served. */
  scheduleFired(runs: readonly FiredRun[]): void {
    if (runs.length === 0) return;
    const fires = instrument(this.registry, METRICS.scheduleFires);
    for (const run of runs) {
      const labels = this.runLabels(run);
      fires.inc({ ...labels, kind: run.catchUp ? 'catch_up' : 'on_time' });
      this.runStarted(run, 'fired');
    }
    // Catch-up fires are late on purpose; the latest fire time's lateness is the scheduler's.
    this.timersServed(
      'cron',
      runs.filter((run) => !run.catchUp),
    );
  }

  /**
   * The queue gauges, read from the database at each scrape (the watchdog
   * serves them, once for the whole deployment). A failed read leaves them
   * out of that scrape rather than failing it: /metrics matters most during
   * an outage.
   */
  serveQueueGauges(): void {
    const repository = new MetricsRepository(this.sql);
    let reading: Promise<void> | undefined;
    const read = () =>
      (reading ??= this.readQueueGauges(repository).finally(() => {
        reading = undefined;
      }));
    instrument(this.registry, METRICS.queueRuns, read);
    instrument(this.registry, METRICS.queueOldestClaimableAge, read);
    instrument(this.registry, METRICS.workersOnline, read);
  }

  private async readQueueGauges(repository: MetricsRepository): Promise<void> {
    const runs = instrument(this.registry, METRICS.queueRuns);
    const age = instrument(this.registry, METRICS.queueOldestClaimableAge);
    const workers = instrument(this.registry, METRICS.workersOnline);
    let gauges: QueueGauges;
    try {
      gauges = await repository.queueGauges();
    } catch (err) {
      this.logger.warn(`queue gauges left out of this scrape: ${(err as Error).message}`);
      gauges = { queues: [] };
    }
    // Reset first: a queue that is gone must not keep its last value.
    for (const gauge of [runs, age, workers]) gauge.reset();
    for (const q of gauges.queues) {
      const labels = { namespace: q.namespace, queue: q.queue };
      runs.set({ ...labels, status: 'PENDING' }, q.pending);
      runs.set({ ...labels, status: 'RUNNING' }, q.running);
      runs.set({ ...labels, status: 'SLEEPING' }, q.sleeping);
      age.set(labels, q.oldestClaimableAgeS);
      workers.set(labels, q.workersOnline);
    }
  }

  /** NATS disconnects and reconnects of this app's client connection (the in-process bus has none). */
  private watchBus(): void {
    let client: ClientProxy | undefined;
    try {
      client = this.moduleRef.get<ClientProxy>(BUS_CLIENT, { strict: false });
    } catch {
      return;
    }
    if (!client) return;
    const events = instrument(this.registry, METRICS.natsConnectionEvents);
    let down = false;
    this.busWatch = client.status.subscribe((status) => {
      if (status === 'disconnected' && !down) {
        down = true;
        events.inc({ kind: 'disconnect' });
      } else if (status === 'connected' && down) {
        down = false;
        events.inc({ kind: 'reconnect' });
      }
    });
  }

  private runLabels(run: Omit<RunLabels, 'id'>) {
    return { namespace: run.namespace, queue: run.queue, workflow_type: run.workflowType };
  }
}
