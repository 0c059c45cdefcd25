#!/usr/bin/env node
// `pnpm test` in this package: the suite (two files at a time), then the short chaos profile alone,
// since it brings a dozen processes of its own. Arguments (a file pattern, -t NAME) go to the
// suite only, and skip the chaos run unless they ask for it.
const { spawnSync } = require('node:child_process');

const args = process.argv.slice(2);
const jest = (extra) => spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...extra], { stdio: 'inherit' });

const suite = jest(args).status ?? 1;
const chaos = args.length === 0 || args.some((a) => /chaos/.test(a));
const chaosStatus = chaos ? (jest(['--config', 'jest.chaos.config.js']).status ?? 1) : 0;
process.exit(suite !== 0 ? suite : chaosStatus);
