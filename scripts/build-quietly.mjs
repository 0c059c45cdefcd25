#!/usr/bin/env node
// `pnpm start`'s build step: turbo's report is shown only when the build fails,
// so that the lines a newcomer reads are the server's.
// Usage: node scripts/build-quietly.mjs <turbo filter>
import { spawnSync } from 'node:child_process';

const filter = process.argv[2];
if (!filter) {
  console.error('usage: build-quietly.mjs <turbo filter>');
  process.exit(2);
}
process.stdout.write('building Baton (the first build takes a minute)...\n');
const build = spawnSync('turbo', ['run', 'build', `--filter=${filter}`, '--output-logs=errors-only'], {
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'pipe'],
  maxBuffer: 64 * 1024 * 1024,
});
if (build.status !== 0) {
  process.stdout.write(build.stdout ?? '');
  process.stderr.write(build.stderr ?? '');
  if (build.error) console.error(`could not run turbo: ${build.error.message}`);
  process.exit(build.status ?? 1);
}
