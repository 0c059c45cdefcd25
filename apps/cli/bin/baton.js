#!/usr/bin/env node
'use strict';
// The `baton` command runs the compiled CLI: `pnpm build` (or `pnpm --filter @baton/cli... build`) makes it.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  console.error('error: baton is not built yet: run `pnpm build` in the Baton repository first');
  process.exit(2);
}
require(main);
