export { TestHarness, ChildApp, ALL_APPS, configToEnv } from './harness/test-harness';
export type { TestConfig, AppName } from './harness/test-harness';
export { waitFor, deferred } from './harness/wait';
