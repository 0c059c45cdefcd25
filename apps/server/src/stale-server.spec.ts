import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearStaleServer, inspectLock } from './stale-server';

// The checks read /proc; elsewhere everything is left to PostgreSQL.
const linux = existsSync('/proc/self/cwd') ? describe : describe.skip;

linux('stale postmaster.pid', () => {
  let dir: string;
  const lock = (pid: number) => writeFile(join(dir, 'postmaster.pid'), `${pid}\n${dir}\n`);
  const log = jest.fn();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'baton-stale-'));
    log.mockClear();
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('no lock file: nothing to do', async () => {
    await expect(inspectLock(dir)).resolves.toEqual({ kind: 'none' });
  });

  test('a dead PID is left to PostgreSQL, which checks shared memory before reusing the directory', async () => {
    const { pid } = spawnSync('true');
    await lock(pid!);
    await expect(inspectLock(dir)).resolves.toEqual({ kind: 'dead', pid });
    await clearStaleServer(dir, log);
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(true);
  });

  test('a PID now used by an unrelated process: the lock is removed', async () => {
    await lock(process.pid);
    await expect(inspectLock(dir)).resolves.toEqual({ kind: 'reused', pid: process.pid });
    await clearStaleServer(dir, log);
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false);
    expect(log).toHaveBeenCalledWith(expect.stringContaining('stale postmaster.pid'));
  });

  test('a server whose parent Node process is alive belongs to another launcher: refuse', async () => {
    const child = spawn('sleep', ['30'], { cwd: dir, stdio: 'ignore' });
    try {
      await lock(child.pid!);
      await expect(inspectLock(dir)).resolves.toEqual({ kind: 'in-use', pid: child.pid, ownerPid: process.pid });
      await expect(clearStaleServer(dir, log)).rejects.toThrow(/another Baton server is using this data directory/);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('a server orphaned by a killed launcher is shut down', async () => {
    // The shell exits at once, so the child is reparented away from any Node process, as PostgreSQL is after a
    // SIGKILL. It must handle SIGINT itself (as PostgreSQL does): a shell's background job starts with it ignored.
    const ready = join(dir, 'ready');
    const server = `process.on('SIGINT', () => process.exit(0)); require('fs').writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`;
    const shell = spawnSync('sh', ['-c', '"$0" -e "$1" >/dev/null 2>&1 & echo $!', process.execPath, server], {
      cwd: dir,
      encoding: 'utf8',
    });
    const pid = Number(shell.stdout.trim());
    try {
      while (!existsSync(ready)) await new Promise((resolve) => setTimeout(resolve, 20));
      await lock(pid);
      await expect(inspectLock(dir)).resolves.toEqual({ kind: 'orphan', pid });
      await clearStaleServer(dir, log);
      await expect(inspectLock(dir)).resolves.toEqual({ kind: 'dead', pid });
      expect(log).toHaveBeenCalledWith(expect.stringContaining(`stopping PostgreSQL (PID ${pid})`));
    } finally {
      spawnSync('kill', ['-9', String(pid)]);
    }
  }, 20_000);
});
