import type { TestHarness } from '@baton/tests';
import { Pool } from 'pg';
import { percentile } from './stats';

export interface Result {
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
}

/** Baseline: durable single-row commits/s from 8 connections, and a lone commit's latency. */
export async function commitBaseline(h: TestHarness, durationMs = 3_000): Promise<Result> {
  const pool = new Pool({ connectionString: h.config.databaseUrl, max: 8 });
  await pool.query('CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, v int)');
  const latencies: number[] = [];
  const end = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (Date.now() < end) {
        const t = performance.now();
        await pool.query('INSERT INTO bench_baseline (v) VALUES (1)');
        latencies.push(performance.now() - t);
      }
    }),
  );
  await pool.end();
  return summarize(latencies.length / (durationMs / 1000), latencies);
}

/** A burst of `runs` one-step runs drained by one worker with `slots` concurrent slots. */
export async function burst(h: TestHarness, runs: number, slots: number): Promise<Result> {
  const queue = h.unique('burst');
  const worker = h.worker({ queue, maxConcurrent: slots, maxConcurrentPolls: Math.min(slots, 25) });
  worker.register('one-step', async (ctx) => ctx.step('only', () => 1));
  await worker.start();
  const client = h.client();
  const started = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < runs; i += 100) {
    const chunk = await Promise.all(
      Array.from({ length: Math.min(100, runs - i) }, () => client.start('one-step', { i }, { queue })),
    );
    ids.push(...chunk.map((r) => r.id));
  }
  await waitUntil(async () => {
    const [row] = (
      await h.db.query(`SELECT count(*)::int AS n FROM workflow_runs WHERE task_queue = $1 AND status = 'COMPLETED'`, [
        queue,
      ])
    ).rows;
    return row.n === runs;
  });
  const elapsedS = (performance.now() - started) / 1000;
  const latencies = (
    await h.db.query(
      `SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM workflow_runs WHERE task_queue = $1`,
      [queue],
    )
  ).rows.map((r) => Number(r.ms));
  await worker.stop();
  return summarize(runs / elapsedS, latencies);
}

/** `runs` runs one after another, each awaited: start → result latency on an idle system. */
export async function sequential(h: TestHarness, runs: number): Promise<Result> {
  const queue = h.unique('seq');
  const worker = h.worker({ queue, maxConcurrent: 10 });
  worker.register('echo', async (ctx, input: number) => ctx.step('echo', () => input));
  await worker.start();
  const client = h.client();
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const run = await client.start('echo', i, { queue });
    await client.result(run.id);
    latencies.push(performance.now() - t);
  }
  const elapsedS = (performance.now() - started) / 1000;
  await worker.stop();
  return summarize(runs / elapsedS, latencies);
}

function summarize(throughput: number, latencies: number[]): Result {
  return {
    throughput,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
  };
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('benchmark workload did not finish in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
