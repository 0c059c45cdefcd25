import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../harness/ports';
import { waitFor } from '../harness/wait';

/**
 * `pnpm start` as a newcomer meets it: the all-in-one server (apps/server's
 * main, run from source) on an embedded PostgreSQL in a fresh data
 * directory, its output read line by line, stopped the way a terminal
 * stops it.
 */

const ROOT = join(__dirname, '..', '..', '..');
const RUN_FROM_SOURCE = join(__dirname, '..', 'harness', 'run-from-source.js');
// Compiling the server from source and initdb take a while on a busy 2-core machine.
const START_TIMEOUT_MS = 120_000;
jest.setTimeout(4 * START_TIMEOUT_MS);

interface LogLine {
  level: string;
  context: string;
  message: string;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A process whose stdout and stderr are kept whole, line by line. */
class Watched {
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The server's JSON log lines so far (a package manager's own lines are not JSON). */
  get logLines(): LogLine[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  }

  async readyLine(): Promise<LogLine> {
    return waitFor(
      () => {
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          throw new Error(`exited before it was ready:\n${this.stdout}\n${this.stderr}`);
        }
        return this.logLines.find((line) => line.message.startsWith('Baton is ready'));
      },
      'the ready line',
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 100 },
    ).catch((err: Error) => {
      this.child.kill('SIGKILL');
      throw new Error(`${err.message}\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`);
    });
  }
}

describe('pnpm start', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let ports: { http: number; grpc: number };
  const running = new Set<ChildProcess>();

  /** The server with nothing configured but ports and its data directory, as `pnpm start` runs it. */
  const server = (extra: NodeJS.ProcessEnv = {}) => {
    const child = spawn(process.execPath, [RUN_FROM_SOURCE, 'server'], {
      env: { ...env, ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    return new Watched(child);
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'baton-start-up-'));
    // As root PostgreSQL runs as `postgres`, which must be able to enter the directory (mkdtemp makes it 0700).
    await chmod(dataDir, 0o755);
    ports = { http: await freePort(), grpc: await freePort() };
    env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(BATON_|DATABASE_URL$|NATS_URL$)/.test(name)),
    );
    Object.assign(env, {
      BATON_DATA_DIR: dataDir,
      BATON_HTTP_PORT: String(ports.http),
      BATON_GRPC_PORT: String(ports.grpc),
      BATON_MATCHING_HEALTH_PORT: String(await freePort()),
      BATON_SCHEDULER_HEALTH_PORT: String(await freePort()),
      BATON_WATCHDOG_HEALTH_PORT: String(await freePort()),
      BATON_EMBEDDED_PG_PORT: String(await freePort()),
      // What a pipe gets anyway (auto), said outright: the test reads the lines as JSON.
      BATON_LOG_FORMAT: 'json',
    });
  });

  afterAll(async () => {
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('the first start prints a handful of lines, ends with the ready line, and Ctrl-C exits 0', async () => {
    const first = server();
    const ready = await first.readyLine();
    const atReady = first.logLines;
    expect(atReady.length).toBeLessThanOrEqual(10);
    expect(atReady[atReady.length - 1]).toEqual(ready);
    expect(atReady.filter((line) => line.level !== 'info')).toEqual([]);
    expect(ready.message).toBe(
      `Baton is ready: gRPC 127.0.0.1:${ports.grpc}, HTTP http://127.0.0.1:${ports.http}, ` +
        `dashboard http://127.0.0.1:${ports.http}/ui/, ` +
        `API docs http://127.0.0.1:${ports.http}/docs; auth off: it listens on 127.0.0.1 only`,
    );
    // The addresses it names answer.
    expect((await fetch(`http://127.0.0.1:${ports.http}/docs`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.http}/docs-json`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${ports.http}/ui/`)).status).toBe(200);

    first.child.kill('SIGINT');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stderr).toBe('');
    expect(first.logLines.slice(atReady.length).map((line) => line.message)).toEqual(['SIGINT: shutting down']);
  });

  test('at BATON_LOG_LEVEL=warn the ready line is still written, and it is all that is', async () => {
    const quiet = server({ BATON_LOG_LEVEL: 'warn' });
    const ready = await quiet.readyLine();
    expect(quiet.logLines).toEqual([ready]);
    expect(ready.level).toBe('info');

    quiet.child.kill('SIGTERM');
    expect(await quiet.exited).toEqual({ code: 0, signal: null });
    expect(quiet.stderr).toBe('');
    expect(quiet.logLines).toEqual([ready]);
  });

  test('Ctrl-C under pnpm ends in exit code 0, not "Command failed"', async () => {
    // The root package's start script with its build step left out (the test runs the server from source):
    // the part that matters is how the server is started, since pnpm signals its child process itself.
    const rootPackage = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const launch = rootPackage.scripts.start!.split(' && ').pop()!;
    expect(launch).toMatch(/node apps\/server\/dist\/main\.js$/);
    const project = await mkdtemp(join(tmpdir(), 'baton-pnpm-start-'));
    try {
      const script = launch.replace('node apps/server/dist/main.js', `node ${RUN_FROM_SOURCE} server`);
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'start-up', scripts: { start: script } }));
      // A process group of its own, as a terminal gives the command it runs: Ctrl-C signals the whole group.
      const child = spawn('pnpm', ['start'], { cwd: project, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      running.add(child);
      const pnpm = new Watched(child);
      await pnpm.readyLine();

      process.kill(-child.pid!, 'SIGINT');
      const exit = await pnpm.exited;
      expect({ exit, stderr: pnpm.stderr }).toEqual({ exit: { code: 0, signal: null }, stderr: '' });
      expect(pnpm.stdout).not.toMatch(/ELIFECYCLE|Command failed/);
      expect(pnpm.logLines[pnpm.logLines.length - 1]!.message).toBe('SIGINT: shutting down');
    } finally {
      await rm(project, { recursive: true, force: true });
    }
  });
});
