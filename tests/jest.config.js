const preset = require('../jest.preset.js')(__dirname);

module.exports = {
  ...preset,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // The chaos run has a config of its own (jest.chaos.config.js): it runs alone, after the rest.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/src/chaos/chaos\\.spec\\.ts$'],
  globalSetup: '<rootDir>/src/harness/global-setup.ts',
  // Each file brings up its own database, NATS prefix and four apps: two files at a time fit 2 cores.
  maxWorkers: 2,
  testTimeout: 60_000,
};
