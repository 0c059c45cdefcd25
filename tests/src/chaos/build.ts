import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** Packages whose build the chaos run executes as child processes (apps, the worker script and what they load). */
const PACKAGES = [
  'apps/frontend',
  'apps/matching',
  'apps/scheduler',
  'apps/watchdog',
  'libs/contracts',
  'libs/persistence',
  'libs/messaging',
  'libs/runtime',
  'libs/sdk',
  'proto',
  'tests',
];

function newest(dir: string, include: (file: string) => boolean): number {
  if (!existsSync(dir)) return 0;
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path, include));
    else if (include(entry.name)) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

/** Packages whose dist is missing or older than their sources. */
export function staleBuilds(): string[] {
  return PACKAGES.filter((pkg) => {
    const source = newest(join(ROOT, pkg, 'src'), (f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    const built = newest(join(ROOT, pkg, 'dist'), (f) => f.endsWith('.js'));
    return source > 0 && (built === 0 || source > built);
  });
}

/**
 * The services and workers of a chaos run are child processes running the
 * compiled code (apps/*\/dist, tests/dist/chaos): Jest maps @baton/* to the
 * sources, child processes cannot, so a stale build would test old code.
 * CI builds before testing (nothing to do); locally this builds what is stale.
 */
export function ensureFreshBuild(log: (line: string) => void = () => undefined): void {
  const stale = staleBuilds();
  if (stale.length === 0) return;
  log(`building (stale or missing dist: ${stale.join(', ')})`);
  const result = spawnSync(
    'pnpm',
    ['exec', 'turbo', 'run', 'build', '--filter=@baton/tests...', '--output-logs=errors-only'],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  if (result.status !== 0) {
    throw new Error(`build failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
}
