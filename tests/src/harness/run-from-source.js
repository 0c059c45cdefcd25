// Runs one app (`apps/<name>/src/main.ts`) from source in a child process, the
// way Jest runs the suite: TypeScript compiled on require by SWC with the
// repository's options, `@baton/*` resolved to each package's `src`. So a kill
// or restart test exercises the code under test, never a stale `dist/`.
// Usage: node run-from-source.js <frontend|matching|scheduler|watchdog|cli> [arguments of the app]
'use strict';

const { readFileSync, existsSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const { transformSync } = require('@swc/core');

const ROOT = join(__dirname, '..', '..', '..');
const SWC = JSON.parse(readFileSync(join(ROOT, '.swcrc'), 'utf8'));
delete SWC.$schema;

/** `@baton/<name>` is a library, an app, or a top-level package (proto, tests). */
function sourceEntry(name) {
  for (const folder of [join('libs', name), join('apps', name), name]) {
    const entry = join(ROOT, folder, 'src', 'index.ts');
    if (existsSync(entry)) return entry;
  }
  return null;
}

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const match = /^@baton\/([a-z0-9-]+)$/.exec(request);
  const entry = match && sourceEntry(match[1]);
  return resolveFilename.call(this, entry ?? request, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    ...SWC,
    filename,
    sourceMaps: 'inline',
  });
  module._compile(code, filename);
};

const app = process.argv[2];
const main = join(ROOT, 'apps', app ?? '', 'src', 'main.ts');
if (!app || !existsSync(main)) {
  console.error(`usage: run-from-source.js <app>; no ${main}`);
  process.exit(2);
}
// The app reads its own arguments (the CLI's command line) as if it had been started directly.
process.argv.splice(2, 1);
require(main);
