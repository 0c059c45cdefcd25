import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { postgresBinaries, postgresUser } from './postgres-binaries';

export interface PostgresProcessOptions {
  dir: string;
  port: number;
  onLine: (line: string) => void;
  /** The server exited without stop() being called. */
  onExit: (description: string) => void;
}

export interface PostgresProcess {
  pid: number;
  /** Fast shutdown, then immediate if it hangs. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Runs the server in a process group of its own: in ours, Ctrl-C in a
 * terminal would shut the database down while the apps are still closing.
 * The launcher stops it last.
 */
export async function startPostgresProcess(options: PostgresProcessOptions): Promise<PostgresProcess> {
  const child = spawn(
    postgresBinaries().postgres,
    ['-D', options.dir, '-p', String(options.port), ...SERVER_SETTINGS.flatMap((setting) => ['-c', setting])],
    { ...postgresUser(), detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stopping: Promise<void> | undefined;
  let ready = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`));
    child.once('error', (err) => resolve(err.message));
  });
  // If this process exits without close() (an uncaught error, a second Ctrl-C), the server still stops.
  const onProcessExit = () => child.kill('SIGINT');
  process.once('exit', onProcessExit);
  void exited.then((description) => {
    process.removeListener('exit', onProcessExit);
    // An exit during start-up is the start's failure, reported by the caller.
    if (ready && !stopping) options.onExit(`embedded PostgreSQL exited (${description})`);
  });

  const readyLine = new Promise<void>((resolve) => {
    forEachLine(child, (line) => {
      options.onLine(line);
      if (line.includes('database system is ready to accept connections')) resolve();
    });
  });
  const outcome = await Promise.race([
    readyLine.then(() => 'ready' as const),
    exited.then((description) => `it exited during start-up (${description})`),
    delay(60_000).then(() => 'it did not report ready within 60 s'),
  ]);
  const stop = () => (stopping ??= stopChild(child, exited));
  if (outcome !== 'ready') {
    await stop();
    throw new Error(outcome);
  }
  ready = true;
  return { pid: child.pid!, stop };
}

/**
 * TCP on loopback only, no Unix socket (nothing shared with other clusters
 * through /tmp), and English messages, which the readiness check reads.
 */
const SERVER_SETTINGS = ['listen_addresses=127.0.0.1', 'unix_socket_directories=', 'lc_messages=C'];

export function forEachLine(child: ChildProcess, onLine: (line: string) => void): void {
  let pending = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line.trim()) onLine(line);
  });
}

async function stopChild(child: ChildProcess, exited: Promise<string>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const stopped = await Promise.race([exited.then(() => true), delay(30_000).then(() => false)]);
  if (stopped) return;
  child.kill('SIGQUIT');
  await exited;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
