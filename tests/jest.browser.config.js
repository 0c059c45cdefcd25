const path = require('node:path');
const base = require('./jest.config.js');

const BROWSER_SPECS = require('./jest.browser-specs.js');

// The browser specs, one file at a time, after the suite; counts in a results file of their own for .ci/run.

module.exports = {
  ...base,
  testMatch: BROWSER_SPECS.map((spec) => `<rootDir>/${spec}`),
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  reporters: base.reporters.map((reporter) =>
    Array.isArray(reporter)
      ? [reporter[0], { outputFile: path.join(__dirname, '.jest-results.browser.json') }]
      : reporter,
  ),
};
