/**
 * One chaos worker process (spawned by the chaos runner, SIGKILLed at random
 * and spawned again): an SDK Worker running the chaos workflow, whose step
 * bodies write the ledger. Configured through the environment only.
 */
import { randomUUID } from 'node:crypto';
import { Worker } from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';
import { Pool } from 'pg';
import { CHAOS_WORKFLOW_TYPE, LEDGER_FINISH, LEDGER_INSERT, stepDigest, stepId } from './workflow';
import type { ChaosInput, RunOutput, StepOutput } from './workflow';

export const WORKER_ENV = {
  address: 'CHAOS_GRPC_ADDRESS',
  database: 'CHAOS_DATABASE_URL',
  queue: 'CHAOS_QUEUE',
  hostname: 'CHAOS_WORKER_HOSTNAME',
  maxConcurrent: 'CHAOS_MAX_CONCURRENT',
  stepMinMs: 'CHAOS_STEP_MIN_MS',
  stepMaxMs: 'CHAOS_STEP_MAX_MS',
} as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

// The ledger must survive the faults it witnesses: a body whose ledger write fails would be a
// step failure of the scaffolding's making, so writes are retried for as long as an outage can last.
const LEDGER_PATIENCE_MS = 120_000;

async function main(): Promise<void> {
  const pool = new Pool({
    connectionString: env(WORKER_ENV.database),
    max: 4,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 10_000,
  });
  pool.on('error', () => undefined);

  const ledger = async (sql: string, params: unknown[]): Promise<void> => {
    const giveUp = Date.now() + LEDGER_PATIENCE_MS;
    for (let failures = 0; ; failures++) {
      try {
        await pool.query(sql, params);
        return;
      } catch (err) {
        if (Date.now() > giveUp) throw err;
        await sleep(Math.min(1_000, 50 * 2 ** Math.min(failures, 5)));
      }
    }
  };

  const stepMin = Number(process.env[WORKER_ENV.stepMinMs] ?? 20);
  const stepMax = Number(process.env[WORKER_ENV.stepMaxMs] ?? 100);

  const body = async (ctx: WorkflowContext, k: number, previous: string): Promise<StepOutput> => {
    const execId = randomUUID();
    const startedAt = new Date();
    await ledger(LEDGER_INSERT, [execId, ctx.runId, stepId(k), ctx.attempt, process.pid, startedAt]);
    await sleep(stepMin + Math.random() * Math.max(0, stepMax - stepMin));
    const digest = stepDigest(ctx.runId, k, previous);
    await ledger(LEDGER_FINISH, [execId, new Date(), digest]);
    return { step: k, digest };
  };

  const handler = async (ctx: WorkflowContext, input: ChaosInput): Promise<RunOutput> => {
    let previous = '';
    for (let k = 0; k < input.steps; k++) {
      const output = await ctx.step<StepOutput>(stepId(k), () => body(ctx, k, previous));
      previous = output.digest;
    }
    return { index: input.index, steps: input.steps, digest: previous };
  };

  let worker: Worker | undefined;
  let stopping = false;
  process.once('SIGTERM', () => {
    stopping = true;
    void (async () => {
      await worker?.stop().catch(() => undefined);
      await pool.end().catch(() => undefined);
      process.exit(0);
    })();
  });

  // The frontend may be down or restarting when this process starts: keep trying to register.
  for (let failures = 0; !stopping; failures++) {
    const candidate = new Worker({
      address: env(WORKER_ENV.address),
      queue: env(WORKER_ENV.queue),
      maxConcurrent: Number(process.env[WORKER_ENV.maxConcurrent] ?? 20),
      // One identity per process (the runner finds this worker's row by hostname and pid).
      hostname: env(WORKER_ENV.hostname),
      pid: process.pid,
      shutdownGraceMs: 2_000,
      onError: (err) => log(`worker: ${(err as Error)?.message ?? String(err)}`),
    });
    candidate.register(CHAOS_WORKFLOW_TYPE, handler);
    try {
      await candidate.start();
      worker = candidate;
      log(`registered as ${candidate.workerId} (pid ${process.pid})`);
      return;
    } catch (err) {
      log(`register failed: ${(err as Error).message}`);
      await candidate.stop().catch(() => undefined);
      await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 4)));
    }
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    log(`chaos worker crashed: ${(err as Error)?.stack ?? String(err)}`);
    process.exit(1);
  });
}
