/** Hard limits of the public contract (DESIGN §13). One place; every edge validates against these. */
export const LIMITS = Object.freeze({
  /** Inclusive: a payload of exactly this many bytes is accepted. */
  payloadBytes: 2_097_152,
  /** Payloads above this are accepted but logged, since they make replays slow. */
  payloadWarnBytes: 1_048_576,
  nameBytes: 255,
  externalIdBytes: 255,
  correlationIdBytes: 255,
  /** 30 days, inclusive. */
  maxSleepMs: 30 * 24 * 60 * 60 * 1000,
  /** A run timeout can be as long as a year; beyond that it is almost surely a unit mistake. */
  maxRunTimeoutMs: 366 * 24 * 60 * 60 * 1000,
  maxAttempts: 1000,
  maxConcurrent: 10_000,
  workflowTypesPerWorker: 1000,
  runsPage: { default: 20, max: 100 },
  stepsPage: { default: 50, max: 100 },
  schedulesPage: { default: 100, max: 500 },
  workersPage: { default: 100, max: 500 },
  maxCatchup: { default: 100, min: 1, max: 10_000 },
  /** Max seconds a WaitResult long poll holds before answering "not yet". */
  maxWaitMs: 60_000,
});

/** Payload encodings understood by the SDK and the HTTP API. */
export const ENCODING_JSON = 'json';
export const ENCODING_BINARY = 'binary';
export type PayloadEncoding = typeof ENCODING_JSON | typeof ENCODING_BINARY;
