/*
 * Every Prometheus metric Baton exposes, defined once: name, help, labels and
 * buckets. The services (libs/runtime/src/metrics) and the SDK worker
 * (libs/sdk/src/worker-metrics.ts) build their prom-client instruments from
 * these. Labels are bounded by design: namespaces, queues, workflow types,
 * statuses and kinds, never a run id or a worker id (a series per run would
 * grow without end).
 */

/** The only label names a Baton metric may carry. */
export type MetricLabel = 'namespace' | 'queue' | 'workflow_type' | 'status' | 'kind';

interface MetricBase<L extends MetricLabel> {
  name: string;
  help: string;
  labelNames: readonly L[];
}

export interface CounterDefinition<L extends MetricLabel = MetricLabel> extends MetricBase<L> {
  type: 'counter';
}

export interface GaugeDefinition<L extends MetricLabel = MetricLabel> extends MetricBase<L> {
  type: 'gauge';
}

export interface HistogramDefinition<L extends MetricLabel = MetricLabel> extends MetricBase<L> {
  type: 'histogram';
  /** Upper bounds in seconds. */
  buckets: readonly number[];
}

export type MetricDefinition = CounterDefinition | GaugeDefinition | HistogramDefinition;

/** A metric's label values, keyed by its label names. */
export type MetricLabels<L extends MetricLabel> = Record<L, string>;

const counter = <L extends MetricLabel>(name: string, help: string, labelNames: readonly L[]) =>
  ({ type: 'counter', name, help, labelNames }) as const satisfies CounterDefinition<L>;
const gauge = <L extends MetricLabel>(name: string, help: string, labelNames: readonly L[]) =>
  ({ type: 'gauge', name, help, labelNames }) as const satisfies GaugeDefinition<L>;
const histogram = <L extends MetricLabel>(
  name: string,
  help: string,
  labelNames: readonly L[],
  buckets: readonly number[],
) => ({ type: 'histogram', name, help, labelNames, buckets }) as const satisfies HistogramDefinition<L>;

/** Waits measured in milliseconds to minutes: claim queueing, timer lateness, long polls. */
export const LATENCY_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
] as const;

/** A whole run, start to terminal state: milliseconds up to the 30-day sleep limit. */
export const RUN_DURATION_BUCKETS = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14_400, 86_400, 604_800, 2_592_000,
] as const;

/** One step body's execution in a worker. */
export const STEP_DURATION_BUCKETS = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
] as const;

const RUN_LABELS = ['namespace', 'queue', 'workflow_type'] as const;

/** The services' metrics (frontend, matching, scheduler, watchdog); each app serves those it updates. */
export const METRICS = {
  runsStarted: counter(
    'baton_runs_started_total',
    'Workflow runs created, by the API (Start, StartMany) or by a cron fire.',
    RUN_LABELS,
  ),
  runsFinished: counter(
    'baton_runs_finished_total',
    'Workflow runs that reached a terminal state (status COMPLETED, FAILED, CANCELLED or TERMINATED).',
    [...RUN_LABELS, 'status'],
  ),
  runDuration: histogram(
    'baton_run_duration_seconds',
    'Time from a run being created to its terminal state, sleeps and retries included.',
    [...RUN_LABELS, 'status'],
    RUN_DURATION_BUCKETS,
  ),
  scheduleToStart: histogram(
    'baton_schedule_to_start_seconds',
    'Time a run waited claimable (since available_at) before a worker claimed it.',
    RUN_LABELS,
    LATENCY_BUCKETS,
  ),
  claims: counter(
    'baton_claims_total',
    'Runs claimed for a worker (matching, or eager dispatch at start).',
    RUN_LABELS,
  ),
  claimsReleased: counter(
    'baton_claims_released_total',
    'Claims handed back unreceived at no cost to the run (kind caller_gone: the poll had left; unanswered: matching could not answer it).',
    ['namespace', 'queue', 'kind'],
  ),
  recoveries: counter(
    'baton_recoveries_total',
    'Runs the watchdog took back (kind lease_expired, worker_stale, undelivered) or failed at their deadline (kind deadline); status PENDING: claimable again, FAILED: budget spent or deadline.',
    ['namespace', 'queue', 'kind', 'status'],
  ),
  stepAttempts: counter(
    'baton_step_attempts_total',
    'Step attempts recorded by the server (status COMPLETED, RETRYING: failed with a retry scheduled, FAILED: failed for good).',
    ['namespace', 'status'],
  ),
  timerLateness: histogram(
    'baton_timer_lateness_seconds',
    'How late a due time was served (kind wake: a sleeper woken by the watchdog, from its wake time plus the grace left to matching; deadline: a run failed at its deadline; cron: a schedule fired).',
    ['kind'],
    LATENCY_BUCKETS,
  ),
  scheduleFires: counter(
    'baton_schedule_fires_total',
    'Runs fired by cron schedules (kind on_time: the latest due fire time, catch_up: an older missed one).',
    [...RUN_LABELS, 'kind'],
  ),
  databaseUnavailable: counter(
    'baton_database_unavailable_total',
    'Statements and transactions that failed because PostgreSQL was unreachable, lost or too slow (UNAVAILABLE).',
    [],
  ),
  natsConnectionEvents: counter(
    'baton_nats_connection_events_total',
    "Changes of this app's NATS client connection (kind disconnect, reconnect).",
    ['kind'],
  ),
  queueRuns: gauge(
    'baton_queue_runs',
    'Live runs per queue by status (PENDING, RUNNING, SLEEPING), from the queue counters; served by the watchdog.',
    ['namespace', 'queue', 'status'],
  ),
  queueOldestClaimableAge: gauge(
    'baton_queue_oldest_claimable_age_seconds',
    'Age of the oldest claimable run per queue (now minus its available_at; 0 when none waits); served by the watchdog.',
    ['namespace', 'queue'],
  ),
  cancellationFeeds: gauge(
    'baton_cancellation_feeds',
    'Cancellation feeds of workers open on this frontend (gRPC streams and HTTP long polls).',
    [],
  ),
  workersOnline: gauge(
    'baton_workers_online',
    'Registered workers with status ONLINE per queue; served by the watchdog.',
    ['namespace', 'queue'],
  ),
  runsPurged: counter(
    'baton_runs_purged_total',
    'Terminal runs deleted by retention (BATON_RETENTION) with their payloads and steps; served by the watchdog.',
    [],
  ),
} as const;

/** The SDK worker's metrics, in the registry it exposes as `worker.metrics`. */
export const WORKER_METRICS = {
  slotsInUse: gauge('baton_worker_slots_in_use', 'Runs the worker is executing now.', ['namespace', 'queue']),
  slotsMax: gauge('baton_worker_slots_max', 'Runs the worker may execute at once (maxConcurrent).', [
    'namespace',
    'queue',
  ]),
  pollDuration: histogram(
    'baton_worker_poll_duration_seconds',
    'PollTask long polls, from call to reply (status task: got work, empty: timed out idle, error: failed).',
    ['namespace', 'queue', 'status'],
    LATENCY_BUCKETS,
  ),
  stepDuration: histogram(
    'baton_worker_step_duration_seconds',
    'Step bodies executed by the worker (status COMPLETED: returned, FAILED: threw); replayed steps are not counted.',
    ['namespace', 'queue', 'workflow_type', 'status'],
    STEP_DURATION_BUCKETS,
  ),
} as const;
