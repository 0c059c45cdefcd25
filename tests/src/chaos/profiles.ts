/**
 * What a chaos run does. `short` is the CI profile (part of `pnpm test`,
 * well under 4 minutes on 2 cores); `long` is the release gate of issue 7
 * (`pnpm chaos --profile long`). Every field can be overridden from the CLI
 * or the environment (see cli.ts and docs/chaos.md).
 */
export interface ChaosProfile {
  name: string;
  /** Workflow runs started, K steps each, with the default retry policy. */
  runs: number;
  steps: number;
  /**
   * Runs are started evenly over this window, and faults are injected during it. When service
   * restarts take longer than planned the window stretches (by at most 35 %), see runner.ts.
   */
  chaosWindowMs: number;
  /** After the window: how long every run gets to turn terminal before it counts as stuck. */
  settleDeadlineMs: number;
  workers: number;
  workerMaxConcurrent: number;
  stepMinMs: number;
  stepMaxMs: number;
  /** Quiet time after one fault is over before the next starts, so each recovery can be measured on its own. */
  minFaultGapMs: number;
  /** Mean gap between worker SIGKILLs (uniform in [0.5, 1.5] × this). */
  workerKillEveryMs: number;
  /** Each service gets this many SIGKILLs and this many SIGTERMs. */
  serviceKills: number;
  serviceTerms: number;
  /** Database outages (ALTER DATABASE … ALLOW_CONNECTIONS false + terminate sessions), their lengths. */
  dbOutagesMs: number[];
  /** Real PostgreSQL crash + restart, down for these lengths (private cluster only). */
  pgRestartsMs: number[];
  /** NATS server stopped for these lengths. */
  natsStopsMs: number[];
  /** `shared`: a clone on the shared server; `private`: a PostgreSQL cluster of the run's own. */
  database: 'shared' | 'private';
  /** Service timings (the harness's fast values scaled up a little, so 2 busy cores do not fake staleness). */
  service: {
    heartbeatIntervalMs: number;
    workerStaleThresholdMs: number;
    leaseDurationMs: number;
    pollTimeoutMs: number;
    watchdogIntervalMs: number;
    matchingFallbackMs: number;
  };
  /** Step outputs and terminal runs are re-read this often to prove they never change. */
  snapshotEveryMs: number;
  seed: number;
}

const service = {
  heartbeatIntervalMs: 1_000,
  workerStaleThresholdMs: 6_000,
  leaseDurationMs: 10_000,
  pollTimeoutMs: 5_000,
  watchdogIntervalMs: 500,
  matchingFallbackMs: 500,
};

export const PROFILES: Record<'short' | 'long', ChaosProfile> = {
  short: {
    name: 'short',
    runs: 300,
    steps: 5,
    chaosWindowMs: 90_000,
    settleDeadlineMs: 45_000,
    workers: 3,
    workerMaxConcurrent: 20,
    stepMinMs: 50,
    stepMaxMs: 400,
    minFaultGapMs: 3_000,
    workerKillEveryMs: 6_000,
    serviceKills: 1,
    serviceTerms: 1,
    // 5 s: shorter than the stale threshold, it must mark no live worker stale and recover nothing.
    // 9 s: longer than the stale threshold and than the SDK's old retry budget (issue 7's 7.5 s outage
    // that failed runs): runs may be recovered, none may fail or be charged an attempt.
    dbOutagesMs: [5_000, 9_000],
    pgRestartsMs: [],
    natsStopsMs: [3_000],
    database: 'shared',
    service,
    snapshotEveryMs: 2_000,
    seed: 0,
  },
  long: {
    name: 'long',
    runs: 2_000,
    steps: 5,
    chaosWindowMs: 360_000,
    settleDeadlineMs: 180_000,
    workers: 4,
    workerMaxConcurrent: 25,
    stepMinMs: 50,
    stepMaxMs: 400,
    minFaultGapMs: 5_000,
    workerKillEveryMs: 2_000,
    serviceKills: 2,
    serviceTerms: 2,
    // One shorter than the stale threshold (nothing may be recovered), one longer (runs are
    // recovered, none may fail) — the 10 s outage of issue 7's done-when.
    dbOutagesMs: [4_000, 10_000],
    pgRestartsMs: [3_000, 10_000],
    natsStopsMs: [3_000, 8_000],
    database: 'private',
    service,
    snapshotEveryMs: 3_000,
    seed: 0,
  },
};
