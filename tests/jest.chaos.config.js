const path = require('node:path');
const base = require('./jest.config.js');

// The short chaos profile: a dozen processes of its own, so nothing else runs beside it, and its
// counts go to a results file of its own for .ci/run.
module.exports = {
  ...base,
  testMatch: ['<rootDir>/src/chaos/chaos.spec.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  maxWorkers: 1,
  reporters: base.reporters.map((reporter) =>
    Array.isArray(reporter)
      ? [reporter[0], { outputFile: path.join(__dirname, '.jest-results.chaos.json') }]
      : reporter,
  ),
};
