import type { Client, WorkflowContext, WorkflowHandler } from '@baton/sdk';
import type { TestHarness } from '@baton/tests';
import type { BenchConfig, WorkloadId } from './config';
import { cpuMark, cpuSince } from './cpu';
import type { CpuWindow } from './cpu';
import { percentiles } from './stats';

/*
 * W1–W4 with the peers harness's meaning (../shared/peers: README, run.mjs,
 * adapters/baton.mjs), so the figures read the same way:
 * - completion = the workflow's own code, right after its last step returned
 *   (the engine's final "run complete" write is not inside the latency); a
 *   check through the database afterwards proves every run COMPLETED;
 * - W1/W2/W4 enqueue with `enqueueParallelism` client.start calls in flight,
 *   each with an externalId, as the peers adapter does; throughput is runs
 *   from the first enqueue to the last completion;
 * - W3 = client.start then client.result, one run at a time;
 * - W4 lateness = wall clock of the first user code after the sleep minus
 *   (t0 recorded in a step just before the sleep + sleepMs).
 * Each run of a workload has its own queue and worker, stopped at its end,
 * and `warmup` unmeasured runs of the same kind first.
 */

/** One measurement of one workload; per-workflow CPU in ms. NaN where it does not apply. */
export interface Measured extends Record<string, number> {
  workflowsPerS: number;
  stepsPerS: number;
  /** The workload's headline latency: enqueue→completion (W1, W2), start→result (W3), wake lateness (W4). */
  p50: number;
  p95: number;
  p99: number;
  cpuSelfMs: number;
  cpuPgAllMs: number;
  cpuPgOwnMs: number;
  cpuNatsMs: number;
  foreignCorePct: number;
}

type Kind = 'one' | 'ten' | 'sleep';
const KIND: Record<WorkloadId, Kind> = { W1: 'one', W2: 'ten', W3: 'one', W4: 'sleep' };

interface Input {
  id: string;
  x: number;
}

/** Completions and wake-ups reported by the workflows' own code; the first report per run wins (replays repeat them). */
class Tracker {
  readonly doneAt = new Map<string, number>();
  readonly value = new Map<string, number>();
  readonly lateness = new Map<string, number>();
  private waiting?: { ids: Set<string>; resolve: () => void };

  done(id: string, value: number): void {
    if (this.doneAt.has(id)) return;
    this.doneAt.set(id, performance.now());
    this.value.set(id, value);
    if (this.waiting?.ids.delete(id) && this.waiting.ids.size === 0) this.waiting.resolve();
  }

  woke(id: string, intendedWallMs: number): void {
    if (!this.lateness.has(id)) this.lateness.set(id, Date.now() - intendedWallMs);
  }

  async waitAll(ids: string[], timeoutMs: number): Promise<void> {
    const pending = new Set(ids.filter((id) => !this.doneAt.has(id)));
    if (pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => (this.waiting = { ids: pending, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out: ${ids.length - pending.size}/${ids.length} completed`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.waiting = undefined;
    }
  }
}

function handler(kind: Kind, tracker: Tracker, cfg: BenchConfig): WorkflowHandler<Input, number> {
  switch (kind) {
    case 'one':
      return async (ctx: WorkflowContext, { id, x }) => {
        const r = await ctx.step('inc', () => x + 1);
        tracker.done(id, r);
        return r;
      };
    case 'ten':
      return async (ctx: WorkflowContext, { id, x }) => {
        let v = x;
        for (let k = 0; k < cfg.w2Steps; k++) {
          const cur = v;
          v = await ctx.step(`inc${k}`, () => cur + 1);
        }
        tracker.done(id, v);
        return v;
      };
    case 'sleep':
      return async (ctx: WorkflowContext, { id, x }) => {
        const t0 = await ctx.step('t0', () => Date.now());
        await ctx.sleep('nap', cfg.sleepMs);
        tracker.woke(id, t0 + cfg.sleepMs);
        tracker.done(id, x + 1);
        return x + 1;
      };
  }
}

const expected = (kind: Kind, x: number, cfg: BenchConfig) => (kind === 'ten' ? x + cfg.w2Steps : x + 1);

/** fn(i) for i in [0, n), at most `parallel` at once; the first failure stops the rest. */
async function inParallel(n: number, parallel: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    try {
      while (!failed && next < n) await fn(next++);
    } catch (err) {
      failed = true;
      throw err;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, n)) }, lane));
}

interface Setup {
  h: TestHarness;
  cfg: BenchConfig;
  kind: Kind;
  queue: string;
  client: Client;
  tracker: Tracker;
}

const startRun = (s: Setup, id: string, x: number) =>
  s.client.start(s.kind, { id, x } satisfies Input, { queue: s.queue, externalId: `${s.queue}:${id}` });

/** Every run on the queue recorded COMPLETED in the database (bounded wait: the final write follows `done`). */
async function confirmCompleted(s: Setup, expectedRuns: number): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const [row] = await s.h.query<{ completed: number; total: number }>(
      `SELECT count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed, count(*)::int AS total
       FROM workflow_runs WHERE task_queue = $1`,
      [s.queue],
    );
    if (row!.completed === expectedRuns && row!.total === expectedRuns) return;
    if (performance.now() > deadline) {
      throw new Error(`${s.queue}: ${row!.completed}/${expectedRuns} runs COMPLETED (${row!.total} in all)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One run of workload `id` on a fresh queue with its own worker, stopped at the end. */
export async function runWorkload(h: TestHarness, cfg: BenchConfig, id: WorkloadId): Promise<Measured> {
  const kind = KIND[id];
  const queue = h.unique(id.toLowerCase());
  const tracker = new Tracker();
  const errors: string[] = [];
  const worker = h.worker({
    queue,
    maxConcurrent: cfg.concurrency, // maxConcurrentPolls: the SDK default, as in the peers adapter
    onError: (err) => errors.push(String((err as Error)?.message ?? err)),
  });
  worker.register(kind, handler(kind, tracker, cfg));
  const client = h.client();
  const s: Setup = { h, cfg, kind, queue, client, tracker };
  try {
    await worker.start();
    const warm = Array.from({ length: cfg.warmup }, (_, i) => `warm-${i}`);
    await inParallel(warm.length, cfg.enqueueParallelism, async (i) => void (await startRun(s, warm[i]!, i)));
    await tracker.waitAll(warm, cfg.timeoutMs);
    const n = { W1: cfg.w1Runs, W2: cfg.w2Runs, W3: cfg.w3Runs, W4: cfg.w4Runs }[id];
    const measured = id === 'W3' ? await oneAtATime(s, n) : await enqueueAll(s, id, n);
    await confirmCompleted(s, cfg.warmup + n);
    return measured;
  } finally {
    await worker.stop();
    client.close();
    if (errors.length > 0) console.error(`${id} worker reported ${errors.length} errors, e.g. ${errors[0]}`);
  }
}

function perWorkflow(cpu: CpuWindow, n: number) {
  return {
    cpuSelfMs: cpu.selfMs / n,
    cpuPgAllMs: cpu.pgAllMs / n,
    cpuPgOwnMs: cpu.pgOwnMs / n,
    cpuNatsMs: cpu.natsMs / n,
    foreignCorePct: cpu.foreignCorePct,
  };
}

/** W1, W2, W4: enqueue n runs, wait for all of them. */
async function enqueueAll(s: Setup, id: WorkloadId, n: number): Promise<Measured> {
  const ids = Array.from({ length: n }, (_, i) => `${id}-${i}`);
  const enqueuedAt = new Array<number>(n);
  const mark = cpuMark();
  const first = performance.now();
  await inParallel(n, s.cfg.enqueueParallelism, async (i) => {
    if (performance.now() - first > s.cfg.timeoutMs) throw new Error(`${id}: enqueue timed out at ${i}/${n}`);
    enqueuedAt[i] = performance.now();
    await startRun(s, ids[i]!, i);
  });
  await s.tracker.waitAll(ids, Math.max(1_000, s.cfg.timeoutMs - (performance.now() - first)));
  const cpu = await cpuSince(mark, s.h.db);
  let last = first;
  const latencies = ids.map((runId, i) => {
    const doneAt = s.tracker.doneAt.get(runId)!;
    last = Math.max(last, doneAt);
    if (s.tracker.value.get(runId) !== expected(s.kind, i, s.cfg)) throw new Error(`${runId}: wrong result`);
    return doneAt - enqueuedAt[i]!;
  });
  const spanS = (last - first) / 1000;
  const lateness = ids.map((runId) => s.tracker.lateness.get(runId)).filter((l): l is number => l !== undefined);
  if (id === 'W4' && lateness.length !== n) throw new Error(`W4: only ${lateness.length}/${n} wake-ups recorded`);
  return {
    workflowsPerS: n / spanS,
    stepsPerS: id === 'W2' ? (n * s.cfg.w2Steps) / spanS : NaN,
    ...percentiles(id === 'W4' ? lateness : latencies),
    ...perWorkflow(cpu, n),
  };
}

/** W3: start, then await the result, one run at a time. */
async function oneAtATime(s: Setup, n: number): Promise<Measured> {
  const latencies: number[] = [];
  const mark = cpuMark();
  const first = performance.now();
  for (let i = 0; i < n; i++) {
    if (performance.now() - first > s.cfg.timeoutMs) throw new Error(`W3: timed out at ${i}/${n}`);
    const t = performance.now();
    const run = await startRun(s, `W3-${i}`, i);
    const value = await s.client.result<number>(run.id, { timeout: s.cfg.timeoutMs });
    latencies.push(performance.now() - t);
    if (value !== expected(s.kind, i, s.cfg)) throw new Error(`W3-${i}: wrong result ${value}`);
  }
  const elapsedS = (performance.now() - first) / 1000;
  const cpu = await cpuSince(mark, s.h.db);
  return {
    workflowsPerS: n / elapsedS,
    stepsPerS: NaN,
    ...percentiles(latencies),
    ...perWorkflow(cpu, n),
  };
}
