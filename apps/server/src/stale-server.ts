import { readFileSync } from 'node:fs';
import { readFile, readlink, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * What a `postmaster.pid` left in the data directory means. PostgreSQL copes
 * with a dead PID by itself; the cases it cannot handle are a PID that now
 * belongs to another process of the same user (the system PostgreSQL runs as
 * `postgres` too) and a server still running because the launcher that
 * started it was killed (SIGKILL does not reach child processes).
 */
export type LockState =
  | { kind: 'none' }
  | { kind: 'dead'; pid: number }
  | { kind: 'reused'; pid: number }
  | { kind: 'orphan'; pid: number }
  | { kind: 'in-use'; pid: number; ownerPid: number }
  | { kind: 'unknown'; pid: number };

export async function inspectLock(dataDir: string): Promise<LockState> {
  const pid = await lockPid(dataDir);
  if (pid === null) return { kind: 'none' };
  if (!isAlive(pid)) return { kind: 'dead', pid };
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => null);
  if (cwd === null) return { kind: 'unknown', pid };
  // The postmaster chdirs into its data directory, so its cwd says whose server it is.
  if (cwd !== (await realpath(dataDir))) return { kind: 'reused', pid };
  const ownerPid = parentPid(pid);
  if (ownerPid !== null && ownerPid !== 1 && isAlive(ownerPid) && (await isNode(ownerPid))) {
    return { kind: 'in-use', pid, ownerPid };
  }
  return { kind: 'orphan', pid };
}

/**
 * Makes the data directory startable after an unclean exit: an orphaned
 * server is shut down (fast, then immediate), a lock naming an unrelated
 * process is removed. A server another live launcher owns is an error.
 */
export async function clearStaleServer(dataDir: string, log: (message: string) => void): Promise<void> {
  const state = await inspectLock(dataDir);
  switch (state.kind) {
    case 'reused':
      log(`removing stale postmaster.pid (PID ${state.pid} is now another process)`);
      await rm(join(dataDir, 'postmaster.pid'), { force: true });
      return;
    case 'orphan':
      log(`stopping PostgreSQL (PID ${state.pid}) left running by a previous run that did not shut down`);
      if (await stopProcess(dataDir, state.pid, 'SIGINT', 30_000)) return;
      log(`PostgreSQL (PID ${state.pid}) ignored a fast shutdown; shutting it down immediately`);
      if (await stopProcess(dataDir, state.pid, 'SIGQUIT', 10_000)) return;
      throw new Error(`could not stop PostgreSQL (PID ${state.pid}) still running in ${dataDir}`);
    case 'in-use':
      throw new Error(
        `PostgreSQL in ${dataDir} is already running for process ${state.ownerPid}: ` +
          'another Baton server is using this data directory. Stop it, or set BATON_DATA_DIR to another directory.',
      );
    default:
      // 'dead' and 'unknown' are left to PostgreSQL, whose own checks are the authority.
      return;
  }
}

async function lockPid(dataDir: string): Promise<number | null> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = Number(text?.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Zombies count as gone: an orphan's exit is reaped by init, not by us. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return processState(pid) !== 'Z';
}

function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function processState(pid: number): string | null {
  return statFields(pid)?.[0] ?? null;
}

function parentPid(pid: number): number | null {
  const ppid = Number(statFields(pid)?.[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

async function isNode(pid: number): Promise<boolean> {
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  return /node/i.test(comm);
}

/** Signals the server and waits for it to exit or to remove its lock file. */
async function stopProcess(dataDir: string, pid: number, signal: NodeJS.Signals, timeoutMs: number): Promise<boolean> {
  try {
    process.kill(pid, signal);
  } catch {
    return true;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid) || (await lockPid(dataDir)) !== pid) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
