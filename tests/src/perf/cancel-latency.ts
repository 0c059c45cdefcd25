/**
 * Cancel → ctx.signal abort latency at the product's default heartbeat (5 s):
 * `node tests/dist/perf/cancel-latency.js [pushed runs, default 50] [heartbeat-only runs, default 10]`
 * (after `pnpm build`). Runs are held one at a time by a handler that waits
 * for its signal; each is cancelled at a random point of the heartbeat's
 * cycle, through the client (pushed to the worker),
 * then, for comparison, through the cancel transition alone with no event
 * published (as if the push were lost: only the heartbeat can deliver it).
 */
import { performance } from 'node:perf_hooks';
import { RunsRepository, Sql, createDataSource } from '@baton/persistence';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness } from '../harness/test-harness';
import { deferred, waitFor } from '../harness/wait';

/** The product's default heartbeat interval (DESIGN §13). */
const HEARTBEAT_MS = 5_000;

type Deferred<T> = ReturnType<typeof deferred<T>>;
type Cancel = (runId: string) => Promise<void>;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function summary(label: string, samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return `${label.padEnd(34)} n=${String(sorted.length).padEnd(3)} p50 ${ms(percentile(sorted, 50))}  p99 ${ms(
    percentile(sorted, 99),
  )}  max ${ms(sorted[sorted.length - 1]!)}`;
}

async function measure(h: TestHarness, runs: number, cancel: Cancel): Promise<number[]> {
  const queue = h.unique('cancel-latency');
  // One run at a time: whichever of the handler and the loop comes first makes the run's slot.
  const slots = new Map<string, { entered: Deferred<void>; aborted: Deferred<number> }>();
  const slot = (runId: string) => {
    if (!slots.has(runId)) slots.set(runId, { entered: deferred(), aborted: deferred<number>() });
    return slots.get(runId)!;
  };
  const worker = h.worker({ queue });
  worker.register('held', async (ctx: WorkflowContext) => {
    const { entered, aborted } = slot(ctx.runId);
    ctx.signal.addEventListener('abort', () => aborted.resolve(performance.now()));
    entered.resolve();
    await aborted.promise;
  });
  await worker.start();
  const client = h.client();
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const run = await client.start('held', null, { queue });
      await slot(run.id).entered.promise;
      // Acknowledged: the next heartbeat is a periodic one, at a random point of its interval.
      await waitFor(async () => {
        const [row] = await h.query(`SELECT delivered FROM workflow_runs WHERE id = $1`, [run.id]);
        return row?.delivered === true;
      }, 'the run to be acknowledged');
      // At a random point of the heartbeat's cycle, as a user's cancel would come.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * HEARTBEAT_MS));
      const start = performance.now();
      await cancel(run.id);
      samples.push((await slot(run.id).aborted.promise) - start);
    }
  } finally {
    await worker.stop();
  }
  return samples;
}

async function main(): Promise<void> {
  const pushedRuns = Number(process.argv[2] ?? 50);
  const heartbeatRuns = Number(process.argv[3] ?? 10);
  // The product's defaults for the worker's timing (DESIGN §13), not the harness's fast ones.
  const h = await TestHarness.start({
    heartbeatIntervalSecs: HEARTBEAT_MS / 1000,
    workerStaleThresholdSecs: 30,
    leaseDurationSecs: 30,
    pollTimeoutSecs: 30,
  });
  const dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 1, applicationName: 'cancel-latency' });
  await dataSource.initialize();
  try {
    const client = h.client();
    const pushed = await measure(h, pushedRuns, async (id) => void (await client.cancel(id)));
    process.stdout.write(`${summary('cancel → abort (pushed)', pushed)}\n`);
    const runs = new RunsRepository(new Sql(dataSource));
    const heartbeat = await measure(h, heartbeatRuns, async (id) => void (await runs.cancel('default', id)));
    process.stdout.write(`${summary('cancel → abort (heartbeat only)', heartbeat)}\n`);
  } finally {
    await dataSource.destroy();
    await h.stop();
  }
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
