import type { TestHarness } from '@baton/tests';
import { Pool } from 'pg';
import type { BenchConfig } from './config';
import { percentiles } from './stats';

/** What the machine's PostgreSQL does without Baton, measured next to each repeat of the workloads. */
export interface Baseline extends Record<string, number> {
  /** Single-row INSERT commits/s from 8 connections: the throughput ratios divide by this. */
  commitsPerS: number;
  loadedP50: number;
  /** One INSERT commit on one otherwise idle connection: the latency ratios divide by its p50. */
  loneP50: number;
  loneP95: number;
  loneP99: number;
}

async function commitLoop(pool: Pool, connections: number, durationMs: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + durationMs;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await pool.query('INSERT INTO bench_baseline (v) VALUES (1)');
        latencies.push(performance.now() - t);
      }
    }),
  );
  return latencies;
}

export async function commitBaseline(h: TestHarness, cfg: BenchConfig): Promise<Baseline> {
  const pool = new Pool({ connectionString: h.directDatabaseUrl, max: 8 });
  pool.on('error', () => undefined); // an idle client dropped under the pool must not end the bench
  try {
    await pool.query('CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, v int)');
    const loaded = await commitLoop(pool, 8, cfg.baselineMs);
    const lone = percentiles(await commitLoop(pool, 1, cfg.loneCommitMs));
    return {
      commitsPerS: loaded.length / (cfg.baselineMs / 1000),
      loadedP50: percentiles(loaded).p50,
      loneP50: lone.p50,
      loneP95: lone.p95,
      loneP99: lone.p99,
    };
  } finally {
    await pool.end();
  }
}
