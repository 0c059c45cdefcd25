import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/*
 * `pnpm bench` keeps working: the built bench at tiny sizes, one repeat, against
 * the real PostgreSQL and NATS. No figure is asserted (timing belongs to the
 * bench itself, not to a test); what must hold is that it starts, runs the
 * baseline and W1–W4 to the end and prints its table.
 */
test('pnpm bench runs the baseline and every workload and prints its table', () => {
  const run = spawnSync(process.execPath, [join(__dirname, '..', 'dist', 'main.js')], {
    env: {
      ...process.env,
      BENCH_W1_N: '50',
      BENCH_W2_N: '5',
      BENCH_W2_STEPS: '3',
      BENCH_W3_N: '5',
      BENCH_W4_N: '5',
      BENCH_SLEEP_MS: '200',
      BENCH_WARMUP: '1',
      BENCH_REPEATS: '1',
    },
    encoding: 'utf8',
    timeout: 240_000,
  });
  expect({ status: run.status, stderr: run.status === 0 ? '' : run.stderr.slice(-2_000) }).toEqual({
    status: 0,
    stderr: '',
  });
  for (const line of ['baseline: INSERT commits', 'W1 burst: 50', 'W2 steps: 5 × 3', 'W3 idle: 5', 'W4 timers: 5']) {
    expect(run.stdout).toContain(line);
  }
}, 300_000);
