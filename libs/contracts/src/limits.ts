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
  /** Most starts in one StartMany call. */
  startManyItems: 100,
  /** Most tasks one poll may ask for (PollTaskRequest.max_tasks). */
  pollMaxTasks: 100,
  /** Most run mutations in one worker Batch call. */
  workerBatchCalls: 100,
});

/** Payload encodings understood by the SDK and the HTTP API. */
export const ENCODING_JSON = 'json';
export const ENCODING_BINARY = 'binary';
export type PayloadEncoding = typeof ENCODING_JSON | typeof ENCODING_BINARY;

/**
 * Service liveness as the watchdog sees it (invariant 12: an outage is not a
 * dead worker). Frontends pulse this often; one silent for longer than the gap
 * counts as down, and its "up since" restarts when it pulses again.
 */
export const LIVENESS = Object.freeze({
  pulseIntervalMs: 1_000,
  pulseGapMs: 2_000,
});

/**
 * The precise timers' hand-over between services. A sleeper that comes due
 * while a worker polls its queue is claimed by matching at its wake time
 * (SLEEPING → RUNNING in one statement); the watchdog's pass, which moves
 * due sleepers to PENDING and rings their queues for whoever polls later,
 * waits this long past a wake time so that it does not race that claim for
 * the same rows (with matching's look-back, docs/architecture.md, 200
 * sleepers waking in a burst: lateness p50 34 → 26 ms, p99 68 → 58). A
 * sleeper nobody polls for is so PENDING this much later; nothing is
 * claimed any later.
 */
export const TIMERS = Object.freeze({
  sleeperWakeGraceMs: 250,
});

/** Defaults of the worker SDK (libs/sdk), kept here with the server's so the two stay in step. */
export const SDK_DEFAULTS = Object.freeze({
  /** The frontend's gRPC address when neither the `address` option nor BATON_ADDRESS gives one. */
  address: 'localhost:50051',
  /** One unary call's deadline unless the caller says otherwise. */
  callTimeoutMs: 30_000,
  /**
   * Between tries of a worker mutation through an outage: quick at first (a
   * frontend restart or a dropped connection is over in well under a second),
   * then every ~2 s so that a long outage costs the server little.
   */
  mutationBackoff: Object.freeze({ initialMs: 100, factor: 2, maxMs: 2_000 }),
  /** Bounds on one try of a worker mutation: long enough for a slow answer, short enough to try again in time. */
  mutationTryTimeout: Object.freeze({ minMs: 1_000, maxMs: 30_000 }),
  /** Until Register says otherwise: the server's defaults (DESIGN §13). */
  leaseDurationMs: 30_000,
  workerStaleThresholdMs: 30_000,
  /**
   * How long after a poll hands over a task the worker acknowledges it with a
   * heartbeat: long enough for a burst of tasks to share one heartbeat, and
   * for a short run to finish first (its completion needs no acknowledgement),
   * short next to the server's first lease of an unacknowledged claim (5 s).
   */
  deliveryAckDebounceMs: 50,
  /**
   * A completed step's record may wait for the workflow's next call to the
   * server (the next step, a sleep, the workflow's completion, which then
   * carries it: one call and one commit instead of two) only if its output is
   * at most this big; bigger ones are sent at once, so that a refusal (size,
   * nesting) still fails the step itself.
   */
  deferredStepOutputMaxBytes: 64 * 1024,
  /** How long stop() waits for the server to take note that the worker is leaving. */
  deregisterTimeoutMs: 10_000,
  /**
   * Between tries to reopen the cancellation feed (WatchCancellations): quick
   * after a frontend restart, then every 5 s; meanwhile heartbeats deliver.
   */
  cancellationFeedBackoff: Object.freeze({ initialMs: 100, factor: 2, maxMs: 5_000 }),
  /**
   * Calls the SDK sends together (client.start as StartMany, a worker's run
   * mutations as Batch): a batch of several holds at most this many payload
   * bytes, well under the transport's 16 MiB message cap.
   */
  callBatchMaxBytes: 4 * 1024 * 1024,
});

/**
 * Group commit (libs/persistence/src/group-commit.ts): starts and completions
 * that arrive while one statement of their kind is in flight share the next
 * one. A batch holds at most `maxItems` items and, unless it is a single item,
 * at most `maxBytes` of payloads (they travel hex-encoded inside arrays).
 */
export const GROUP_COMMIT = Object.freeze({
  maxItems: 64,
  maxBytes: 4 * 1024 * 1024,
});

/**
 * Logs (libs/runtime/src/logging). A failure that repeats on every tick (an
 * outage: every job pass, every claim round) is logged once per window per
 * message, with the count held back. A request id from the caller is kept
 * when it is short and plain, else replaced.
 */
export const LOGGING = Object.freeze({
  repeatWindowMs: 5_000,
  requestIdHeader: 'x-request-id',
  requestIdPattern: /^[A-Za-z0-9._:/+=-]{1,128}$/,
});
