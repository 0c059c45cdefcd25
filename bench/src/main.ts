import { TestHarness, prepareTemplateDatabase } from '@baton/tests';
import { commitBaseline } from './baseline';
import type { Baseline } from './baseline';
import { loadBenchConfig, productionTiming } from './config';
import type { BenchConfig, WorkloadId } from './config';
import { formatTable, medianOf } from './stats';
import { runWorkload } from './workloads';
import type { Measured } from './workloads';

/*
 * `pnpm bench`: W1–W4 of the peers harness (../shared/peers) against the real
 * PostgreSQL and NATS, the four apps in this process at the product's timing
 * defaults (config.ts says which settings and why). Every repeat measures the
 * raw-commit baseline and then each workload, so drift on a shared machine
 * shows in both; the table has medians over the repeats and ratios of those
 * medians against the baseline.
 */

const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
/** Milliseconds: two decimals below 10 ms, where a commit's latency lives. */
const ms = (x: number) => fmt(x, Math.abs(x) < 10 ? 2 : 1);

function describe(cfg: BenchConfig): Record<WorkloadId, { label: string; unit: string; latency: string }> {
  return {
    W1: { label: `W1 burst: ${cfg.w1Runs} × 1 step`, unit: 'wf/s', latency: 'enqueue→done' },
    W2: { label: `W2 steps: ${cfg.w2Runs} × ${cfg.w2Steps} steps`, unit: 'steps/s', latency: 'enqueue→done' },
    W3: { label: `W3 idle: ${cfg.w3Runs} one at a time`, unit: 'wf/s', latency: 'start→result' },
    W4: { label: `W4 timers: ${cfg.w4Runs} × sleep ${cfg.sleepMs} ms`, unit: 'wf/s', latency: 'wake lateness' },
  };
}

function row(cfg: BenchConfig, id: WorkloadId, m: Measured, base: Baseline) {
  const d = describe(cfg)[id];
  const throughput = id === 'W2' ? m.stepsPerS : m.workflowsPerS;
  return {
    workload: d.label,
    throughput,
    unit: d.unit,
    '× commits/s': fmt(throughput / base.commitsPerS, 3),
    latency: d.latency,
    'p50 ms': ms(m.p50),
    'p95 ms': ms(m.p95),
    'p99 ms': ms(m.p99),
    'p50 × commit': fmt(m.p50 / base.loneP50),
    'p99 × commit': fmt(m.p99 / base.loneP50),
    'CPU ms/wf': fmt(m.cpuSelfMs + m.cpuPgAllMs, 2),
  };
}

function baselineRow(base: Baseline) {
  return {
    workload: 'baseline: INSERT commits, 8 conns',
    throughput: base.commitsPerS,
    unit: 'commits/s',
    '× commits/s': '1.000',
    latency: 'one commit, 1 conn',
    'p50 ms': ms(base.loneP50),
    'p95 ms': ms(base.loneP95),
    'p99 ms': ms(base.loneP99),
    'p50 × commit': '1.0',
    'p99 × commit': fmt(base.loneP99 / base.loneP50),
    'CPU ms/wf': '—',
  };
}

function notes(cfg: BenchConfig, results: Map<WorkloadId, Measured>, base: Baseline): string[] {
  const lines: string[] = [];
  const w2 = results.get('W2');
  if (w2) lines.push(`W2: ${fmt(w2.workflowsPerS)} workflows/s.`);
  const w1 = results.get('W1');
  if (w1) {
    lines.push(
      `W1 CPU per workflow: ${fmt(w1.cpuSelfMs + w1.cpuPgAllMs, 2)} ms = this process ${fmt(w1.cpuSelfMs, 2)} ms ` +
        `(client + worker + apps) + all postgres processes ${fmt(w1.cpuPgAllMs, 2)} ms (of which the bench ` +
        `database's backends ${fmt(w1.cpuPgOwnMs, 2)} ms); nats-server, not included: ${fmt(w1.cpuNatsMs, 2)} ms.`,
    );
  }
  const foreign = Math.max(0, ...[...results.values()].map((m) => m.foreignCorePct));
  lines.push(
    `Other load on the machine during the workloads: up to ${fmt(foreign, 0)} % of one core` +
      (foreign > 20 ? ' — the run was disturbed; compare only with runs as disturbed.' : '.'),
  );
  lines.push(
    `× commits/s: throughput as a fraction of the baseline's commits/s (8 connections, ${cfg.baselineMs} ms; ` +
      `p50 of a commit under that load ${fmt(base.loadedP50, 2)} ms).`,
    `× commit: latency as a multiple of one commit alone on one connection (p50 ${fmt(base.loneP50, 2)} ms).`,
    'CPU ms/wf: this process + all postgres processes over the measured window, per workflow.',
  );
  return lines;
}

async function main(): Promise<void> {
  const cfg = loadBenchConfig();
  await prepareTemplateDatabase();
  const h = await TestHarness.start({ overrides: productionTiming() });
  try {
    const baselines: Baseline[] = [];
    const measured = new Map<WorkloadId, Measured[]>(cfg.workloads.map((id) => [id, []]));
    for (let r = 1; r <= cfg.repeats; r++) {
      const base = await commitBaseline(h, cfg);
      baselines.push(base);
      console.error(`#${r} baseline: ${fmt(base.commitsPerS)} commits/s, one commit p50 ${fmt(base.loneP50, 2)} ms`);
      for (const id of cfg.workloads) {
        const m = await runWorkload(h, cfg, id);
        measured.get(id)!.push(m);
        console.error(
          `#${r} ${id}: ${fmt(m.workflowsPerS)} wf/s, p50 ${fmt(m.p50)} p99 ${fmt(m.p99)} ms, ` +
            `CPU ${fmt(m.cpuSelfMs + m.cpuPgAllMs, 2)} ms/wf, other load ${fmt(m.foreignCorePct, 0)} %`,
        );
      }
    }
    const base = medianOf(baselines);
    const results = new Map([...measured].map(([id, ms]) => [id, medianOf(ms)]));
    const [pg] = await h.query<{ v: string; sc: string; fsync: string }>(
      `SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS sc,
              current_setting('fsync') AS fsync`,
    );
    console.log(
      `\nBaton benchmark: medians of ${cfg.repeats} repeat(s); worker maxConcurrent ${cfg.concurrency}, ` +
        `${cfg.enqueueParallelism} starts in flight, ${cfg.warmup} warm-up runs per workload.\n` +
        `Apps in this process over NATS at the product's timing defaults; PostgreSQL ${pg!.v} ` +
        `(synchronous_commit=${pg!.sc}, fsync=${pg!.fsync}).\n`,
    );
    console.log(formatTable([baselineRow(base), ...[...results].map(([id, m]) => row(cfg, id, m, base))]));
    console.log(`\n${notes(cfg, results, base).join('\n')}`);
  } finally {
    await h.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
