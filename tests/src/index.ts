export { TestHarness, ChildApp, ALL_APPS, configToEnv } from './harness/test-harness';
export type { TestConfig, AppName } from './harness/test-harness';
export { waitFor, deferred } from './harness/wait';
export { jsonPayload, rawCall } from './harness/raw-call';
export type { RawReply } from './harness/raw-call';
export { default as prepareTemplateDatabase } from './harness/global-setup';
export {
  TEST_ADMIN_KEY,
  KEYS_REQUIRED,
  createKey,
  revokeKey,
  grpcMethods,
  grpcStatus,
  bearer,
} from './harness/api-keys';
export type { CreatedKey, CallStatus } from './harness/api-keys';
