// Shared Jest setup for every package: SWC transforms TypeScript (with decorator
// metadata for Nest and TypeORM) and the ESM-only Nest 12 / NATS packages, and
// workspace packages resolve to their source so tests never run stale builds.
const path = require('node:path');

const swc = (syntax) => [
  '@swc/jest',
  {
    jsc: {
      parser: syntax === 'ts' ? { syntax: 'typescript', decorators: true } : { syntax: 'ecmascript' },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];

const sources = {
  contracts: 'libs/contracts',
  persistence: 'libs/persistence',
  messaging: 'libs/messaging',
  runtime: 'libs/runtime',
  sdk: 'libs/sdk',
  testing: 'libs/testing',
  proto: 'proto',
  frontend: 'apps/frontend',
  matching: 'apps/matching',
  scheduler: 'apps/scheduler',
  watchdog: 'apps/watchdog',
  server: 'apps/server',
  tests: 'tests',
};

module.exports = (dir, overrides = {}) => ({
  rootDir: dir,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  transform: { '^.+\\.ts$': swc('ts'), '^.+\\.m?js$': swc('js') },
  transformIgnorePatterns: ['/node_modules/(?!(\\.pnpm/)?(@nestjs|@nats-io|load-esm|file-type|uid)[+/@])'],
  moduleNameMapper: Object.fromEntries(
    Object.entries(sources).map(([name, folder]) => [`^@baton/${name}$`, path.join(__dirname, folder, 'src')]),
  ),
  reporters: process.env.BATON_JEST_JSON
    ? [
        'default',
        [path.join(__dirname, 'jest.results-reporter.js'), { outputFile: path.join(dir, '.jest-results.json') }],
      ]
    : ['default'],
  ...overrides,
});
