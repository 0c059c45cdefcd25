export { TestHarness, ChildApp, ALL_APPS, configToEnv } from './harness/test-harness';
export type { TestConfig, AppName } from './harness/test-harness';
export { waitFor, deferred } from './harness/wait';
export { default as prepareTemplateDatabase } from './harness/global-setup';
