const preset = require('../jest.preset.js')(__dirname);
const BROWSER_SPECS = require('./jest.browser-specs.js');

module.exports = {
  ...preset,
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // The chaos run and the browser specs have configs of their own (jest.chaos.config.js,
  // jest.browser.config.js): they run after the rest, each alone.
  testPathIgnorePatterns: [
    '/node_modules/',
    '<rootDir>/src/chaos/chaos\\.spec\\.ts$',
    ...BROWSER_SPECS.map((spec) => `<rootDir>/${spec.replace(/\./g, '\\.')}$`),
  ],
  globalSetup: '<rootDir>/src/harness/global-setup.ts',
  // Each file brings up its own database, NATS prefix and four apps: two files at a time fit 2 cores.
  maxWorkers: 2,
  testTimeout: 60_000,
};
