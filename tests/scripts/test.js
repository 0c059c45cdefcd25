#!/usr/bin/env node
// `pnpm test` in this package: the suite (two files at a time), then the browser specs one at a time
// (jest.browser-specs.js: a rendering Chromium takes a core), then the short chaos profile alone, since
// it brings a dozen processes of its own. Arguments (a file pattern, -t NAME) go to each phase that has
// a file they match; without arguments every phase runs.
const { spawnSync } = require('node:child_process');
const BROWSER_SPECS = require('../jest.browser-specs.js');

const args = process.argv.slice(2);
const jest = (extra) => spawnSync(process.execPath, [require.resolve('jest/bin/jest'), ...extra], { stdio: 'inherit' });
const patterns = args.filter((a, i) => !a.startsWith('-') && !(i > 0 && /^(-t|--testNamePattern)$/.test(args[i - 1])));
const names = (files) => patterns.length === 0 || files.some((file) => patterns.some((p) => new RegExp(p).test(file)));

const browser = names(BROWSER_SPECS);
const suiteOnlyBrowser = patterns.length > 0 && patterns.every((p) => BROWSER_SPECS.some((f) => new RegExp(p).test(f)));
const suite = suiteOnlyBrowser ? 0 : (jest(args).status ?? 1);
const browserStatus = browser ? (jest(['--config', 'jest.browser.config.js', ...args]).status ?? 1) : 0;
const chaos = args.length === 0 || args.some((a) => /chaos/.test(a));
const chaosStatus = chaos ? (jest(['--config', 'jest.chaos.config.js']).status ?? 1) : 0;
process.exit([suite, browserStatus, chaosStatus].find((status) => status !== 0) ?? 0);
