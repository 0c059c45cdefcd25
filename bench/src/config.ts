import { buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';

export const WORKLOADS = ['W1', 'W2', 'W3', 'W4'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

/** Sizes and knobs of one `pnpm bench`; defaults are the peers harness's (../shared/peers). */
export interface BenchConfig {
  repeats: number;
  workloads: WorkloadId[];
  w1Runs: number;
  w2Runs: number;
  w2Steps: number;
  w3Runs: number;
  w4Runs: number;
  sleepMs: number;
  /** Worker maxConcurrent for every workload. */
  concurrency: number;
  /** client.start calls in flight at once while enqueueing W1, W2 and W4. */
  enqueueParallelism: number;
  /** Unmeasured workflows of the same kind, awaited, before each measured workload. */
  warmup: number;
  /** Hard bound on one workload run. */
  timeoutMs: number;
  baselineMs: number;
  loneCommitMs: number;
}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min)
    throw new Error(`${name} must be a whole number >= ${min}, got "${raw}"`);
  return Number(raw);
}

function workloadFilter(raw: string | undefined): WorkloadId[] {
  if (raw === undefined || raw.trim() === '') return [...WORKLOADS];
  const picked = raw.split(',').map((w) => w.trim().toUpperCase());
  const unknown = picked.filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (unknown.length > 0) throw new Error(`BENCH_WORKLOADS: unknown ${unknown.join(', ')} (known: W1,W2,W3,W4)`);
  return WORKLOADS.filter((w) => picked.includes(w));
}

export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  return {
    repeats: whole(env, 'BENCH_REPEATS', 3, 1),
    workloads: workloadFilter(env.BENCH_WORKLOADS),
    w1Runs: whole(env, 'BENCH_W1_N', 5_000, 1),
    w2Runs: whole(env, 'BENCH_W2_N', 500, 1),
    w2Steps: whole(env, 'BENCH_W2_STEPS', 10, 1),
    w3Runs: whole(env, 'BENCH_W3_N', 200, 1),
    w4Runs: whole(env, 'BENCH_W4_N', 200, 1),
    sleepMs: whole(env, 'BENCH_SLEEP_MS', 2_000, 1),
    concurrency: whole(env, 'BENCH_CONCURRENCY', 50, 1),
    enqueueParallelism: whole(env, 'BENCH_ENQ_PAR', 10, 1),
    warmup: whole(env, 'BENCH_WARMUP', 10),
    timeoutMs: whole(env, 'BENCH_TIMEOUT_S', 900, 1) * 1000,
    baselineMs: whole(env, 'BENCH_BASELINE_MS', 3_000, 100),
    loneCommitMs: whole(env, 'BENCH_LONE_COMMIT_MS', 1_000, 100),
  };
}

/**
 * The settings TestHarness.start would otherwise set to the seed's fast test
 * values, put back to the product's defaults (libs/contracts loadConfig with
 * an empty environment), because each one changes what the workloads measure:
 * - matchingFallbackMs (harness 200 ms, product 1 s): how often matching
 *   re-reads waiting polls without a doorbell; a lost or absent doorbell
 *   costs up to this much latency, and it claims due sleepers (W4);
 * - watchdogIntervalMs, schedulerIntervalMs, wakeBatchSize: the periodic
 *   passes that wake sleepers and recover runs (W4 lateness, background CPU);
 * - heartbeatIntervalMs (harness 500 ms, product 5 s): the worker's
 *   heartbeat rate, i.e. commits and CPU per second of held runs (W2, W4);
 * - pollTimeoutMs, pollDeadlineMarginMs (harness 2 s / 100 ms, product
 *   30 s / 200 ms): how often idle polls expire and are re-sent (W3, W4);
 * - leaseDurationMs, claimAckTimeoutMs, workerStaleThresholdMs,
 *   reconcileIntervalMs, recoveryBatchSize: lease writes and watchdog work;
 * - dbPoolSize (harness 6, product 10 per app): connections per app.
 * Addresses, ports, the database, the NATS prefix and the log level stay the
 * harness's. The bus is NATS (the harness's, apps as separate services), not
 * the all-in-one server's in-process bus.
 */
export function productionTiming(): Partial<BatonConfig> {
  const d = buildConfig();
  return {
    matchingFallbackMs: d.matchingFallbackMs,
    watchdogIntervalMs: d.watchdogIntervalMs,
    schedulerIntervalMs: d.schedulerIntervalMs,
    wakeBatchSize: d.wakeBatchSize,
    heartbeatIntervalMs: d.heartbeatIntervalMs,
    pollTimeoutMs: d.pollTimeoutMs,
    pollDeadlineMarginMs: d.pollDeadlineMarginMs,
    leaseDurationMs: d.leaseDurationMs,
    claimAckTimeoutMs: d.claimAckTimeoutMs,
    workerStaleThresholdMs: d.workerStaleThresholdMs,
    reconcileIntervalMs: d.reconcileIntervalMs,
    recoveryBatchSize: d.recoveryBatchSize,
    dbPoolSize: d.dbPoolSize,
  };
}
