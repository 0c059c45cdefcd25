import { TestHarness, prepareTemplateDatabase } from '@baton/tests';
import { formatTable, median } from './stats';
import { burst, commitBaseline, sequential } from './workloads';
import type { Result } from './workloads';

/*
 * `pnpm bench`: fixed workloads against the real PostgreSQL and NATS, the four
 * apps in this process. Each workload runs REPEATS times; the table shows
 * medians, and ratios against a raw-commit baseline measured in the same run
 * (so a slower machine or a noisy neighbour shows in both).
 */
const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const BURST_RUNS = Number(process.env.BENCH_BURST_RUNS ?? 5_000);
const SEQUENTIAL_RUNS = Number(process.env.BENCH_SEQUENTIAL_RUNS ?? 200);

async function repeat(label: string, work: () => Promise<Result>): Promise<Result> {
  const results: Result[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const result = await work();
    console.error(`${label} #${i + 1}: ${result.throughput.toFixed(1)}/s p50 ${result.p50.toFixed(1)} ms`);
    results.push(result);
  }
  const med = (key: keyof Result) => median(results.map((r) => r[key]));
  return { throughput: med('throughput'), p50: med('p50'), p95: med('p95'), p99: med('p99') };
}

async function main(): Promise<void> {
  await prepareTemplateDatabase();
  const h = await TestHarness.start({ pollTimeoutSecs: 10, overrides: { dbPoolSize: 20 } });
  try {
    const baseline = await repeat('baseline', () => commitBaseline(h));
    const burstResult = await repeat(`burst ${BURST_RUNS}`, () => burst(h, BURST_RUNS, 50));
    const sequentialResult = await repeat(`sequential ${SEQUENTIAL_RUNS}`, () => sequential(h, SEQUENTIAL_RUNS));
    console.log(`\nBaton benchmark (medians of ${REPEATS} runs; baseline = raw single-row commits, 8 connections)\n`);
    console.log(
      formatTable([
        row('baseline: commit', 'commits/s', baseline, baseline),
        row(`burst: ${BURST_RUNS} one-step runs, 50 slots`, 'runs/s', burstResult, baseline),
        row(`sequential: ${SEQUENTIAL_RUNS} start→result`, 'runs/s', sequentialResult, baseline),
      ]),
    );
    console.log(
      '\nx baseline: throughput as a fraction of raw commits/s; p50 latency as a multiple of one commit.\n' +
        'burst latency: run created → finished (database clock); sequential: client start → result returned.',
    );
  } finally {
    await h.stop();
  }
}

function row(workload: string, unit: string, r: Result, base: Result) {
  return {
    workload,
    throughput: r.throughput,
    unit,
    'x baseline': `${(r.throughput / base.throughput).toFixed(3)}`,
    'p50 ms': r.p50,
    'p95 ms': r.p95,
    'p99 ms': r.p99,
    'p50 x commit': `${(r.p50 / base.p50).toFixed(1)}`,
  };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
