import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uuidv7 } from '@baton/contracts';
import { NonRetryableError } from '@baton/sdk';
import type { Worker } from '@baton/sdk';
import { KEYS_REQUIRED, TEST_ADMIN_KEY, TestHarness, deferred, waitFor } from '../index';
import { CliProcess, baton } from '../harness/baton-cli';
import type { CliResult } from '../harness/baton-cli';
import { freePort } from '../harness/ports';

/*
 * The `baton` CLI (issue 12, item 2), run as a real process (compiled from
 * source, like the apps the harness spawns) against a deployment that
 * requires API keys: the CLI's key comes from BATON_API_KEY unless a test
 * passes --api-key.
 */

// Each command is a process of its own that compiles the CLI: allow for a busy machine.
jest.setTimeout(120_000);

/** The line of `table` whose text contains `needle`. */
function rowOf(table: string, needle: string): string {
  const row = table.split('\n').find((line) => line.includes(needle));
  if (!row) throw new Error(`no line with ${needle} in:\n${table}`);
  return row;
}

/** Asserts the command succeeded, with its output in the message when it did not. */
function ok(result: CliResult): CliResult {
  if (result.code !== 0) {
    throw new Error(`baton exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return result;
}

describe('baton CLI', () => {
  let h: TestHarness;
  const workers: Worker[] = [];

  const cli = (...args: string[]) => baton(['--address', h.grpcAddress, ...args], { BATON_API_KEY: TEST_ADMIN_KEY });
  const json = async <T = Record<string, unknown>>(...args: string[]): Promise<T> =>
    JSON.parse(ok(await cli('--json', ...args)).stdout) as T;
  const runIdOf = (result: CliResult) => /started run (\S+)/.exec(ok(result).stdout)![1]!;

  /** A started worker on `queue` with the admin key. */
  async function workerOn(queue: string, register: (w: Worker) => void, hostname?: string): Promise<Worker> {
    const worker = h.worker({ queue, apiKey: TEST_ADMIN_KEY, ...(hostname ? { hostname } : {}) });
    register(worker);
    await worker.start();
    workers.push(worker);
    return worker;
  }

  beforeAll(async () => {
    h = await TestHarness.start({ overrides: KEYS_REQUIRED });
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('workflow start prints the run id and workflow result prints its output as JSON', async () => {
    const queue = h.unique('greet');
    await workerOn(queue, (w) =>
      w.register('greet', async (ctx, input: { name: string }) => ctx.step('compose', () => `hello, ${input.name}`)),
    );

    const runId = runIdOf(await cli('workflow', 'start', 'greet', '--queue', queue, '--input', '{"name":"Ada"}'));
    expect(await json('workflow', 'result', runId)).toEqual({
      id: runId,
      status: 'COMPLETED',
      output: 'hello, Ada',
      error: null,
    });
    expect(ok(await cli('workflow', 'result', runId)).stdout).toBe('"hello, Ada"\n');

    // --json start, input from a file.
    const dir = await mkdtemp(join(tmpdir(), 'baton-cli-'));
    try {
      await writeFile(join(dir, 'input.json'), '{"name":"Grace"}');
      const started = await json<{ id: string; alreadyExists: boolean; run: { status: string; queue: string } }>(
        'workflow',
        'start',
        'greet',
        '--queue',
        queue,
        '--input-file',
        join(dir, 'input.json'),
      );
      expect(started).toMatchObject({ alreadyExists: false, run: { queue } });
      expect(await json('workflow', 'result', started.id)).toMatchObject({ output: 'hello, Grace' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('workflow list shows runs in an aligned table and --json parses', async () => {
    const queue = h.unique('listed');
    const first = runIdOf(await cli('workflow', 'start', 'report', '--queue', queue));
    const second = runIdOf(await cli('workflow', 'start', 'report', '--queue', queue, '--input', '[1,2]'));

    const { stdout } = ok(await cli('workflow', 'list', '--queue', queue));
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RUN ID\s+TYPE\s+QUEUE\s+STATUS\s+ATTEMPT\s+CREATED\s+DURATION$/);
    expect(lines).toHaveLength(3);
    // Newest first, every value under its header.
    expect(lines[1]!.startsWith(second)).toBe(true);
    expect(lines[2]!.startsWith(first)).toBe(true);
    for (const [header, value] of [
      ['TYPE', 'report'],
      ['QUEUE', queue],
      ['STATUS', 'PENDING'],
    ]) {
      expect(lines[1]!.indexOf(value!)).toBe(lines[0]!.indexOf(header!));
      expect(lines[2]!.indexOf(value!)).toBe(lines[0]!.indexOf(header!));
    }

    const page = await json<{ runs: Array<{ id: string }>; nextPageToken: string | null }>(
      'workflow',
      'list',
      '--queue',
      queue,
      '--limit',
      '1',
    );
    expect(page.runs.map((r) => r.id)).toEqual([second]);
    expect(page.nextPageToken).toEqual(expect.any(String));
    const rest = await json<{ runs: Array<{ id: string }> }>(
      'workflow',
      'list',
      '--queue',
      queue,
      '--page-token',
      page.nextPageToken!,
    );
    expect(rest.runs.map((r) => r.id)).toEqual([first]);

    // Search by the ids a user knows, and by creation time.
    const tagged = runIdOf(
      await cli(
        'workflow',
        'start',
        'report',
        '--queue',
        queue,
        '--external-id',
        `${queue}-x`,
        '--correlation-id',
        queue,
      ),
    );
    const ids = async (...filters: string[]) =>
      (await json<{ runs: Array<{ id: string }> }>('workflow', 'list', '--queue', queue, ...filters)).runs.map(
        (r) => r.id,
      );
    expect(await ids('--external-id', `${queue}-x`)).toEqual([tagged]);
    expect(await ids('--correlation-id', queue)).toEqual([tagged]);
    expect(await ids('--until', '2000-01-01')).toEqual([]);
    expect(await ids('--since', '2000-01-01T00:00:00Z')).toEqual([tagged, second, first]);
    const bad = await cli('workflow', 'list', '--since', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since.*expected a time/);
  });

  test('workflow describe and steps show the steps of a run', async () => {
    const queue = h.unique('steps');
    await workerOn(queue, (w) =>
      w.register('order', async (ctx, amount: number) => {
        const charged = await ctx.step('charge', () => ({ charged: amount }));
        await ctx.step('ship', () => 'shipped');
        return charged;
      }),
    );
    const runId = runIdOf(await cli('workflow', 'start', 'order', '--queue', queue, '--input', '42'));
    ok(await cli('workflow', 'result', runId));

    const described = ok(await cli('workflow', 'describe', runId)).stdout;
    expect(described).toMatch(new RegExp(`^Run:\\s+${runId}$`, 'm'));
    expect(described).toMatch(/^Status:\s+COMPLETED$/m);
    expect(described).toMatch(/^Output:\n {2}\{\n {4}"charged": 42\n {2}\}$/m);
    expect(described).toMatch(/^SEQ\s+STEP\s+KIND\s+STATUS\s+ATTEMPT\s+STARTED\s+DURATION\s+RESULT$/m);
    expect(described).toMatch(/^0\s+charge\s+FUNCTION\s+COMPLETED\s+1\s.*\{"charged":42\}$/m);
    expect(described).toMatch(/^1\s+ship\s+FUNCTION\s+COMPLETED\s+1\s.*"shipped"$/m);

    const steps = ok(await cli('workflow', 'steps', runId))
      .stdout.trimEnd()
      .split('\n');
    expect(steps[0]).toMatch(/^SEQ\s+STEP\s+KIND\s+STATUS\s+ATTEMPT\s+STARTED\s+DURATION\s+RESULT$/);
    expect(steps.slice(1).map((line) => line.split(/\s+/)[1])).toEqual(['charge', 'ship']);

    const asJson = await json<{ run: { status: string; output: unknown }; steps: Array<{ stepId: string }> }>(
      'workflow',
      'describe',
      runId,
    );
    expect(asJson.run).toMatchObject({ status: 'COMPLETED', output: { charged: 42 } });
    expect(asJson.steps.map((s) => s.stepId)).toEqual(['charge', 'ship']);
    const stepsJson = await json<{ steps: Array<{ stepId: string; output: unknown }> }>('workflow', 'steps', runId);
    expect(stepsJson.steps.map((s) => [s.stepId, s.output])).toEqual([
      ['charge', { charged: 42 }],
      ['ship', 'shipped'],
    ]);
  });

  test('steps --follow streams the steps of a running run until it completes', async () => {
    const queue = h.unique('follow');
    const gate = deferred();
    const reachedLast = deferred();
    await workerOn(queue, (w) =>
      w.register('pipeline', async (ctx) => {
        await ctx.step('extract', () => 'rows');
        await ctx.step('transform', () => 'clean rows');
        return ctx.step('load', async () => {
          reachedLast.resolve();
          await gate.promise;
          return 'loaded';
        });
      }),
    );
    const runId = runIdOf(await cli('workflow', 'start', 'pipeline', '--queue', queue));
    await reachedLast.promise;

    const follow = new CliProcess(['--address', h.grpcAddress, 'workflow', 'steps', runId, '--follow'], {
      BATON_API_KEY: TEST_ADMIN_KEY,
    });
    try {
      // The completed steps and a progress line arrive while the run is still at its last step.
      await waitFor(
        () => /✓ 1 transform/.test(follow.stdout) && /RUNNING: 2 steps completed/.test(follow.stdout),
        'the completed steps of the running run',
        { timeoutMs: 60_000 },
      ).catch((err: Error) => {
        throw new Error(`${err.message}; baton wrote:\n${follow.stdout}${follow.stderr}`);
      });
      expect(follow.running).toBe(true);
      expect(follow.stdout).not.toMatch(/load FUNCTION COMPLETED/);
      gate.resolve();

      const { code, stdout } = await follow.done;
      expect(code).toBe(0);
      const steps = stdout.split('\n').filter((line) => line.startsWith('✓'));
      expect(steps.map((line) => line.split(' ')[2])).toEqual(['extract', 'transform', 'load']);
      expect(rowOf(stdout, '✓ 2 load')).toMatch(/"loaded"$/);
      expect(stdout.trimEnd().split('\n').pop()).toBe(`run ${runId} COMPLETED`);
    } finally {
      gate.resolve();
      if (follow.running) follow.kill('SIGKILL');
    }
  });

  test('describe --follow --json streams one JSON object per step, then the run', async () => {
    const queue = h.unique('follow-json');
    await workerOn(queue, (w) =>
      w.register('two', async (ctx) => {
        await ctx.step('a', () => 1);
        await ctx.step('b', () => 2);
        return 'done';
      }),
    );
    const runId = runIdOf(await cli('workflow', 'start', 'two', '--queue', queue));
    const { stdout } = ok(await cli('--json', 'workflow', 'describe', runId, '--follow'));
    const events = stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; step?: { stepId: string }; run?: { status: string } });
    expect(events.map((e) => e.type)).toEqual(['step', 'step', 'run']);
    expect(events.slice(0, 2).map((e) => e.step!.stepId)).toEqual(['a', 'b']);
    expect(events[2]!.run).toMatchObject({ id: runId, status: 'COMPLETED', output: 'done' });
  });

  test('workflow cancel cancels a run, and workflow result then exits 1', async () => {
    const queue = h.unique('idle');
    const runId = runIdOf(await cli('workflow', 'start', 'never-taken', '--queue', queue));

    expect(ok(await cli('workflow', 'cancel', runId)).stdout).toBe(`cancelled: run ${runId}\n`);
    expect(ok(await cli('workflow', 'cancel', runId)).stdout).toBe(`already cancelled: run ${runId}\n`);

    const result = await cli('workflow', 'result', runId);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`error: workflow run ${runId} CANCELLED\n`);
  });

  test('workflow result of a failed run exits 1 with its error', async () => {
    const queue = h.unique('failing');
    await workerOn(queue, (w) =>
      w.register('charge', async () => {
        throw new NonRetryableError('card declined', 'PaymentError');
      }),
    );
    const runId = runIdOf(await cli('workflow', 'start', 'charge', '--queue', queue));

    const result = await cli('workflow', 'result', runId);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`error: workflow run ${runId} FAILED: PaymentError: card declined\n`);
    const asJson = await cli('--json', 'workflow', 'result', runId);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      id: runId,
      status: 'FAILED',
      error: { message: 'card declined', type: 'PaymentError' },
    });
  });

  test('workflow signal delivers its payload to a waiting run', async () => {
    const queue = h.unique('signals');
    await workerOn(queue, (w) => w.register('approval', async (ctx) => ctx.waitForSignal('approve')));
    const runId = runIdOf(await cli('workflow', 'start', 'approval', '--queue', queue));

    expect(ok(await cli('workflow', 'signal', runId, 'approve', '--input', '{"by":"ops"}')).stdout).toBe(
      `sent signal approve to run ${runId}\n`,
    );
    expect(await json('workflow', 'result', runId)).toMatchObject({ status: 'COMPLETED', output: { by: 'ops' } });
  });

  test('workflow terminate, retry and history act on runs as an operator', async () => {
    const queue = h.unique('operator');
    let failOnce = true;
    await workerOn(queue, (w) => {
      w.register('napper', async (ctx) => ctx.sleep('nap', '1h'));
      w.register('flaky', async (ctx) => {
        const first = await ctx.step('first', () => 'kept');
        if (failOnce) throw new NonRetryableError('not yet');
        return first;
      });
    });

    const napper = runIdOf(await cli('workflow', 'start', 'napper', '--queue', queue));
    await waitFor(
      async () => (await h.client('default', { apiKey: TEST_ADMIN_KEY }).get(napper)).status === 'SLEEPING',
      'the run to sleep',
    );
    const refused = await cli('workflow', 'terminate', napper);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/required option '--reason <text>' not specified/);
    expect(ok(await cli('workflow', 'terminate', napper, '--reason', 'stuck')).stdout).toBe(
      `terminated: run ${napper}\n`,
    );
    const history = ok(await cli('workflow', 'history', napper)).stdout;
    expect(rowOf(history, 'TERMINATED')).toMatch(/TERMINATED\s+\S+\s+stuck\s+.*from=SLEEPING/);

    const flaky = runIdOf(await cli('workflow', 'start', 'flaky', '--queue', queue));
    expect((await cli('workflow', 'result', flaky)).code).toBe(1);
    failOnce = false;
    expect(ok(await cli('workflow', 'retry', flaky, '--reason', 'fixed')).stdout).toMatch(/^retrying run /);
    expect(await json('workflow', 'result', flaky)).toMatchObject({ status: 'COMPLETED', output: 'kept' });
    const events = await json<{ events: Array<{ action: string; reason: string }> }>('workflow', 'history', flaky);
    expect(events.events.map((e) => [e.action, e.reason])).toEqual([['RETRIED', 'fixed']]);
  });

  test('key create, list and revoke manage API keys the server then honours', async () => {
    const created = await json<{
      key: { id: string; name: string; roles: string[]; namespaces: string[] };
      secret: string;
    }>('key', 'create', 'ci-reader', '--roles', 'client');
    expect(created.key).toMatchObject({ name: 'ci-reader', roles: ['client'], namespaces: ['default'] });
    expect(created.secret).toMatch(/^baton_/);

    const listed = ok(await cli('key', 'list')).stdout;
    expect(listed.split('\n')[0]).toMatch(/^KEY ID\s+NAME\s+PREFIX\s+NAMESPACES\s+ROLES\s+CREATED\s+REVOKED$/);
    expect(rowOf(listed, created.key.id)).toMatch(/ci-reader\s+baton_\S+\s+default\s+client\s/);

    // The new key works, for what its role allows.
    const withKey = (...args: string[]) => baton(['--address', h.grpcAddress, '--api-key', created.secret, ...args]);
    expect((await withKey('workflow', 'list')).code).toBe(0);
    const denied = await withKey('key', 'list');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error: PERMISSION_DENIED: /);

    expect(ok(await cli('key', 'revoke', created.key.id)).stdout).toMatch(
      new RegExp(`^revoked key ${created.key.id} \\(ci-reader\\) `),
    );
    await waitFor(async () => (await withKey('workflow', 'list')).code === 1, 'the revoked key to be refused');
    expect((await withKey('workflow', 'list')).stderr).toMatch(/^error: UNAUTHENTICATED: /);
    expect(ok(await cli('key', 'list')).stdout).not.toContain(created.key.id);
    expect(rowOf(ok(await cli('key', 'list', '--all')).stdout, created.key.id)).not.toMatch(/ -$/);
  });

  test('worker list shows a worker and worker drain drains it', async () => {
    const queue = h.unique('workers');
    const worker = await workerOn(queue, (w) => w.register('noop', async () => null), 'cli-test-host');
    await waitFor(() => worker.workerId, 'the worker to register');

    const table = ok(await cli('worker', 'list', '--queue', queue)).stdout;
    expect(table.split('\n')[0]).toMatch(/^WORKER ID\s+QUEUE\s+STATUS\s+SLOTS\s+HOST\s+PID\s+TYPES\s+HEARTBEAT$/);
    expect(rowOf(table, worker.workerId!)).toMatch(
      new RegExp(`${queue}\\s+ONLINE\\s+0/100\\s+cli-test-host\\s+\\d+\\s+noop\\s`),
    );

    expect(ok(await cli('worker', 'drain', worker.workerId!)).stdout).toBe(
      `worker ${worker.workerId} on queue ${queue}: DRAINING (0 of 100 slots busy)\n`,
    );
    const after = await json<{ workers: Array<{ id: string; status: string }> }>('worker', 'list', '--queue', queue);
    expect(after.workers.find((w) => w.id === worker.workerId)?.status).not.toBe('ONLINE');
  });

  test('queue list shows the backlog of each queue', async () => {
    const queue = h.unique('backlog');
    for (let i = 0; i < 2; i++) ok(await cli('workflow', 'start', 'later', '--queue', queue));

    await waitFor(
      async () =>
        (await json<{ queues: Array<{ queue: string; pending: number }> }>('queue', 'list')).queues.find(
          (q) => q.queue === queue && q.pending === 2,
        ),
      'the queue with its two pending runs',
    );
    const table = ok(await cli('queue', 'list')).stdout;
    expect(table.split('\n')[0]).toMatch(/^QUEUE\s+PENDING\s+RUNNING\s+SLEEPING\s+OLDEST WAITING$/);
    expect(rowOf(table, queue)).toMatch(new RegExp(`^${queue}\\s+2\\s+0\\s+0\\s+\\S`));
  });

  test('schedule create, list, pause, resume, trigger and delete', async () => {
    const id = h.unique('nightly');
    const queue = h.unique('reports');
    await workerOn(queue, (w) =>
      w.register('report', async (_ctx, input: { full: boolean }) => ({ full: input.full })),
    );
    const created = ok(
      await cli(
        'schedule',
        'create',
        id,
        '--type',
        'report',
        '--queue',
        queue,
        '--cron',
        '0 3 * * *',
        '--input',
        '{"full":true}',
      ),
    ).stdout;
    expect(created).toMatch(new RegExp(`^Schedule:\\s+${id}$`, 'm'));
    expect(created).toMatch(/^Cron:\s+0 3 \* \* \* \(UTC\)$/m);
    expect(created).toMatch(/^State:\s+active$/m);

    const table = ok(await cli('schedule', 'list')).stdout;
    expect(table.split('\n')[0]).toMatch(
      /^SCHEDULE\s+TYPE\s+QUEUE\s+CRON\s+TIMEZONE\s+STATE\s+NEXT FIRE\s+LAST FIRED$/,
    );
    expect(rowOf(table, id)).toMatch(new RegExp(`report\\s+${queue}\\s+0 3 \\* \\* \\*\\s+UTC\\s+active\\s+in \\S+`));

    expect(ok(await cli('schedule', 'pause', id)).stdout).toBe(`paused schedule ${id}\n`);
    const paused = await json<{ schedules: Array<{ scheduleId: string; paused: boolean; input: unknown }> }>(
      'schedule',
      'list',
    );
    expect(paused.schedules.find((s) => s.scheduleId === id)).toMatchObject({ paused: true, input: { full: true } });
    // A paused schedule can still be fired by hand: one run now, with the schedule's input.
    const triggered = /^triggered schedule \S+: started run (\S+)$/.exec(
      ok(await cli('schedule', 'trigger', id)).stdout.trimEnd(),
    );
    expect(triggered).not.toBeNull();
    const run = await json<{ run: { scheduleId: string; workflowType: string; queue: string } }>(
      'workflow',
      'describe',
      triggered![1]!,
    );
    expect(run.run).toMatchObject({ workflowType: 'report', queue, scheduleId: expect.any(String) });
    expect(await json('workflow', 'result', triggered![1]!)).toMatchObject({ output: { full: true } });
    // Its own fire times are left as they were: still paused, never fired.
    const after = await json<{ schedules: Array<{ scheduleId: string; paused: boolean; lastFiredAt: unknown }> }>(
      'schedule',
      'list',
    );
    expect(after.schedules.find((s) => s.scheduleId === id)).toMatchObject({ paused: true, lastFiredAt: null });
    expect(ok(await cli('schedule', 'resume', id)).stdout).toMatch(new RegExp(`^resumed schedule ${id}: next fire `));
    expect(ok(await cli('schedule', 'delete', id)).stdout).toBe(`deleted schedule ${id}\n`);
    expect(ok(await cli('schedule', 'list')).stdout).not.toContain(id);

    for (const action of ['pause', 'trigger']) {
      const gone = await cli('schedule', action, id);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/^error: NOT_FOUND: /);
    }
  });

  test('exit codes: a refusal is 1, a usage error is 2, an unreachable server is 3', async () => {
    const unknown = await cli('workflow', 'describe', uuidv7());
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/^error: NOT_FOUND: .+\n$/);

    const invalid = await cli('workflow', 'list', '--status', 'sideways');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error: INVALID_ARGUMENT: .+ \(field: status\)\n$/);

    const noKey = await baton(['--address', h.grpcAddress, 'workflow', 'list']);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^error: UNAUTHENTICATED: /);

    const badFlag = await cli('workflow', 'list', '--colour');
    expect(badFlag).toMatchObject({ code: 2, stdout: '' });
    expect(badFlag.stderr).toMatch(/unknown option '--colour'/);
    expect((await cli('workflow', 'frobnicate')).code).toBe(2);
    expect((await cli('workflow', 'start', 'x', '--input', '{nope')).stderr).toMatch(/--input is not valid JSON/);
    expect((await cli('workflow', 'start', 'x', '--input', '{nope')).code).toBe(2);

    const nobody = `127.0.0.1:${await freePort()}`;
    const unreachable = await baton(['--address', nobody, 'workflow', 'list']);
    expect(unreachable).toMatchObject({ code: 3, stdout: '' });
    expect(unreachable.stderr).toMatch(
      new RegExp(`^error: UNAVAILABLE: cannot connect to the Baton server at ${nobody}`),
    );
    // BATON_ADDRESS is read when --address is not given.
    expect((await baton(['workflow', 'list'], { BATON_ADDRESS: nobody })).code).toBe(3);

    expect(ok(await cli('--help')).stdout).toMatch(/^Usage: baton /);
  });
});

describe('baton dev', () => {
  test('baton dev starts the all-in-one server and stops cleanly on SIGINT', async () => {
    // A fresh migrated database and nothing running on it: `baton dev` brings the four apps up.
    const db = await TestHarness.start({ apps: [] });
    const grpcPort = await freePort();
    const dev = new CliProcess(
      [
        'dev',
        '--http-port',
        String(await freePort()),
        '--grpc-port',
        String(grpcPort),
        '--database-url',
        db.config.databaseUrl!,
        '--log-level',
        'info',
      ],
      {
        BATON_HOST: '127.0.0.1',
        BATON_MATCHING_HEALTH_PORT: String(await freePort()),
        BATON_SCHEDULER_HEALTH_PORT: String(await freePort()),
        BATON_WATCHDOG_HEALTH_PORT: String(await freePort()),
        // The in-process bus, as on a newcomer's machine.
        NATS_URL: undefined,
        DATABASE_URL: undefined,
      },
    );
    try {
      await waitFor(() => /\bready\b/i.test(dev.stdout) || !dev.running, 'the ready line', { timeoutMs: 90_000 });
      expect(dev.running).toBe(true);
      const listed = await baton(['--address', `127.0.0.1:${grpcPort}`, 'workflow', 'list']);
      expect(listed).toMatchObject({ code: 0, stdout: 'no runs\n' });

      dev.kill('SIGINT');
      const exit = await dev.done;
      expect(exit).toMatchObject({ code: 0, signal: null });
    } finally {
      if (dev.running) dev.kill('SIGKILL');
      await db.stop();
    }
  });
});
