import { z } from 'zod';
import { parseDuration } from './durations';
import { API_KEYS } from './auth';
import { LIMITS } from './limits';
import { SUBJECT_PREFIX_RE } from './subjects';

/** Every setting of every app, parsed once at boot into one frozen object. */
export interface BatonConfig {
  /** Unset: the all-in-one launcher starts an embedded PostgreSQL. */
  databaseUrl?: string;
  /** Unset: apps in one process talk through the in-process transport. */
  natsUrl?: string;
  subjectPrefix: string;
  host: string;
  httpPort: number;
  grpcPort: number;
  matchingHealthPort: number;
  schedulerHealthPort: number;
  watchdogHealthPort: number;
  pollTimeoutMs: number;
  heartbeatIntervalMs: number;
  workerStaleThresholdMs: number;
  leaseDurationMs: number;
  /**
   * First lease of a claim, before the worker acknowledges it (its first
   * heartbeat for the run). An unacknowledged claim comes back this fast and
   * costs the run nothing.
   */
  claimAckTimeoutMs: number;
  /** Infrastructure recoveries (lost lease, stale worker) a run may have; separate from its retry policy. */
  recoveryLimit: number;
  /** Backoff before the second recovery of a run (the first is immediate), doubling per recovery. */
  recoveryBackoffMs: number;
  recoveryBackoffMaxMs: number;
  watchdogIntervalMs: number;
  schedulerIntervalMs: number;
  /** Matching re-checks the database for waiting pollers this often even without a doorbell. */
  matchingFallbackMs: number;
  /** Matching stops claiming for a waiter this close to its deadline (invariant 4). */
  pollDeadlineMarginMs: number;
  /**
   * How long matching trusts what it read about a worker (ONLINE, its queue,
   * max_concurrent) without reading the row again. Events drop an entry at
   * once; this bounds the delay when such an event is lost.
   */
  matchingWorkerCacheMs: number;
  /**
   * Eager dispatch: when frontend and matching share a process and a poll is
   * waiting for a new run's queue and type, the start inserts the run already
   * claimed for that poll (one statement, one commit) and hands it over
   * directly. Off: every start goes through the doorbell and a claim.
   */
  eagerDispatch: boolean;
  wakeBatchSize: number;
  /** How often the watchdog re-derives queue counters from the runs (repairs drift). */
  reconcileIntervalMs: number;
  recoveryBatchSize: number;
  dbPoolSize: number;
  /** Longest wait for a pooled connection (opening one included) before the database counts as unavailable. */
  dbConnectTimeoutMs: number;
  /** Longest wait for one statement: the client gives up on a silent server (PostgreSQL cancels a slow one just before). */
  dbQueryTimeoutMs: number;
  /** `/readyz` gives up on the database after this long (503), whatever the query timeout. */
  dbReadyTimeoutMs: number;
  payloadLimitBytes: number;
  maxSleepMs: number;
  runMigrations: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  dataDir: string;
  /** All-in-one without DATABASE_URL: port of the embedded PostgreSQL (5432 is often a system server). */
  embeddedPostgresPort: number;
  /**
   * `required`: every call carries an API key (invariant 13). `off`: anyone
   * who reaches the ports acts in every namespace; the default only for the
   * all-in-one bound to a loopback address (`pnpm start`).
   */
  auth: 'required' | 'off';
  /** A bootstrap key with every role in every namespace, from a secret; never stored. */
  adminKey?: string;
  /** How long a frontend trusts a key it looked up; a revocation on any frontend reaches the others at once over the bus. */
  authCacheMs: number;
  /** Sustained calls per second one key may make (a token bucket per key and frontend). */
  rateLimitPerSecond: number;
  /** Calls one key may make in a burst above the sustained rate. */
  rateLimitBurst: number;
  /** Long polls (PollTask) one worker may hold open at once on one frontend. */
  maxPollsPerWorker: number;
  /** PEM files for the API's TLS (gRPC and HTTP); both or neither. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** PEM CA bundle: when set, clients must present a certificate it signed (mTLS). */
  tlsClientCaFile?: string;
  /** Service-to-service bus credentials: user and password, a token, or an nkey/JWT creds file. */
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsCredsFile?: string;
  /** A file holding a user's nkey seed (`SU...`), for a server that lists that user by its public key (no JWT). */
  natsNkeySeedFile?: string;
  /** `json`: one JSON object per line; `pretty`: coloured text; `auto`: pretty on a terminal, JSON otherwise. */
  logFormat: 'json' | 'pretty' | 'auto';
  /** Terminal runs older than this (since they finished) are purged with their steps and payloads by the watchdog. */
  retentionMs: number;
  /** Runs purged per statement. */
  retentionBatchSize: number;
  /** How often the watchdog looks for runs past their retention. */
  retentionIntervalMs: number;
  /** gRPC connections are closed (gracefully) after this long, so new frontend replicas get their share of workers. */
  grpcMaxConnectionAgeMs: number;
  /**
   * gRPC server reflection (`grpcurl list`/`describe`). It tells only what the
   * published .proto files tell, and needs no key: it is a plain grpc-js
   * service, outside the Nest handlers that check keys. Off: UNIMPLEMENTED.
   */
  grpcReflection: boolean;
  /**
   * The web dashboard at DASHBOARD_PATH (static files; its API calls take a
   * key like any other). Off: the frontend serves no page, only the API.
   */
  ui: boolean;
  /** TLS to NATS: CA to trust, and a client certificate when the server asks for one. */
  natsTlsCaFile?: string;
  natsTlsCertFile?: string;
  natsTlsKeyFile?: string;
}

/** Where the frontend serves the web dashboard (apps/dashboard is built with this base). */
export const DASHBOARD_PATH = '/ui';

/**
 * How Baton is being run. `all-in-one` is the first try (`pnpm start`): it
 * binds 127.0.0.1 and, so bound, runs without keys. `service` is every other
 * way (the apps on their own, compose, Kubernetes): keys unless turned off.
 */
export type DeploymentProfile = 'all-in-one' | 'service';

/** Whether `host` accepts connections from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      try {
        const ms = parseDuration(value);
        if (ms <= 0) ctx.addIssue({ code: 'custom', message: `must be positive (got "${value}")` });
        return ms;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    });

// Digits only: Number(' ') is 0 and Number('0x1F') is 31, neither of which anyone means.
const integer = (fallback: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').default(String(fallback)).transform(Number);
const port = (fallback: number) => integer(fallback).pipe(z.number().max(65535));
const count = (fallback: number, max: number) => integer(fallback).pipe(z.number().min(1).max(max));
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1');

/** Environment variable → field. The README's configuration table lists the same names. */
const envSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  NATS_URL: z
    .string()
    .regex(/^(nats|tls|ws|wss):\/\/\S+$/, 'must look like nats://host:port')
    .optional(),
  BATON_SUBJECT_PREFIX: z
    .string()
    .regex(SUBJECT_PREFIX_RE, 'must be dot-separated tokens of [A-Za-z0-9_-]')
    .default('baton'),
  BATON_HOST: z.string().min(1).optional(),
  BATON_HTTP_PORT: port(8080),
  BATON_GRPC_PORT: port(50051),
  BATON_MATCHING_HEALTH_PORT: port(8081),
  BATON_SCHEDULER_HEALTH_PORT: port(8082),
  BATON_WATCHDOG_HEALTH_PORT: port(8083),
  BATON_POLL_TIMEOUT: duration('30s'),
  BATON_HEARTBEAT_INTERVAL: duration('5s'),
  BATON_WORKER_STALE_THRESHOLD: duration('30s'),
  BATON_LEASE_DURATION: duration('30s'),
  BATON_CLAIM_ACK_TIMEOUT: duration('5s'),
  BATON_RECOVERY_LIMIT: count(25, 10_000),
  BATON_RECOVERY_BACKOFF: duration('500ms'),
  BATON_RECOVERY_BACKOFF_MAX: duration('30s'),
  BATON_WATCHDOG_INTERVAL: duration('1s'),
  BATON_SCHEDULER_INTERVAL: duration('1s'),
  BATON_MATCHING_FALLBACK_INTERVAL: duration('1s'),
  BATON_POLL_DEADLINE_MARGIN: duration('200ms'),
  BATON_MATCHING_WORKER_CACHE_TTL: duration('5s'),
  BATON_EAGER_DISPATCH: bool(true),
  BATON_WAKE_BATCH_SIZE: count(500, 100_000),
  BATON_RECONCILE_INTERVAL: duration('60s'),
  BATON_RECOVERY_BATCH_SIZE: count(500, 100_000),
  BATON_DB_POOL_SIZE: count(10, 500),
  BATON_DB_CONNECT_TIMEOUT: duration('5s'),
  BATON_DB_QUERY_TIMEOUT: duration('30s'),
  BATON_DB_READY_TIMEOUT: duration('1s'),
  BATON_PAYLOAD_LIMIT_BYTES: count(LIMITS.payloadBytes, LIMITS.payloadBytes),
  BATON_MAX_SLEEP: duration('30d'),
  BATON_RUN_MIGRATIONS: bool(true),
  BATON_LOG_LEVEL: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  BATON_DATA_DIR: z.string().min(1).default('.baton'),
  BATON_EMBEDDED_PG_PORT: port(5433).pipe(z.number().min(1)),
  BATON_AUTH: z.enum(['required', 'off']).optional(),
  BATON_ADMIN_KEY: z
    .string()
    .min(API_KEYS.minBootstrapKeyChars, `must be at least ${API_KEYS.minBootstrapKeyChars} characters`)
    .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
    .optional(),
  BATON_AUTH_CACHE_TTL: duration('5s'),
  BATON_RATE_LIMIT: count(1_000, 1_000_000),
  BATON_RATE_LIMIT_BURST: count(2_000, 10_000_000),
  BATON_MAX_POLLS_PER_WORKER: count(16, 10_000),
  BATON_TLS_CERT: z.string().min(1).optional(),
  BATON_TLS_KEY: z.string().min(1).optional(),
  BATON_TLS_CLIENT_CA: z.string().min(1).optional(),
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  NATS_TOKEN: z.string().min(1).optional(),
  NATS_CREDS: z.string().min(1).optional(),
  NATS_NKEY_SEED: z.string().min(1).optional(),
  BATON_LOG_FORMAT: z.enum(['json', 'pretty', 'auto']).default('auto'),
  BATON_RETENTION: duration('30d'),
  BATON_RETENTION_BATCH_SIZE: count(500, 100_000),
  BATON_RETENTION_INTERVAL: duration('60s'),
  BATON_GRPC_MAX_CONNECTION_AGE: duration('5m'),
  BATON_GRPC_REFLECTION: bool(true),
  BATON_UI: bool(true),
  NATS_TLS_CA: z.string().min(1).optional(),
  NATS_TLS_CERT: z.string().min(1).optional(),
  NATS_TLS_KEY: z.string().min(1).optional(),
});

export type BatonEnv = Partial<Record<keyof z.input<typeof envSchema>, string>>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid Baton configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Reads the environment once. Throws ConfigError naming every bad variable. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  profile: DeploymentProfile = 'service',
): BatonConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const host = e.BATON_HOST ?? (profile === 'all-in-one' ? '127.0.0.1' : '0.0.0.0');
  return validateConfig({
    databaseUrl: e.DATABASE_URL,
    natsUrl: e.NATS_URL,
    subjectPrefix: e.BATON_SUBJECT_PREFIX,
    host,
    httpPort: e.BATON_HTTP_PORT,
    grpcPort: e.BATON_GRPC_PORT,
    matchingHealthPort: e.BATON_MATCHING_HEALTH_PORT,
    schedulerHealthPort: e.BATON_SCHEDULER_HEALTH_PORT,
    watchdogHealthPort: e.BATON_WATCHDOG_HEALTH_PORT,
    pollTimeoutMs: e.BATON_POLL_TIMEOUT,
    heartbeatIntervalMs: e.BATON_HEARTBEAT_INTERVAL,
    workerStaleThresholdMs: e.BATON_WORKER_STALE_THRESHOLD,
    leaseDurationMs: e.BATON_LEASE_DURATION,
    claimAckTimeoutMs: e.BATON_CLAIM_ACK_TIMEOUT,
    recoveryLimit: e.BATON_RECOVERY_LIMIT,
    recoveryBackoffMs: e.BATON_RECOVERY_BACKOFF,
    recoveryBackoffMaxMs: e.BATON_RECOVERY_BACKOFF_MAX,
    watchdogIntervalMs: e.BATON_WATCHDOG_INTERVAL,
    schedulerIntervalMs: e.BATON_SCHEDULER_INTERVAL,
    matchingFallbackMs: e.BATON_MATCHING_FALLBACK_INTERVAL,
    pollDeadlineMarginMs: e.BATON_POLL_DEADLINE_MARGIN,
    matchingWorkerCacheMs: e.BATON_MATCHING_WORKER_CACHE_TTL,
    eagerDispatch: e.BATON_EAGER_DISPATCH,
    wakeBatchSize: e.BATON_WAKE_BATCH_SIZE,
    reconcileIntervalMs: e.BATON_RECONCILE_INTERVAL,
    recoveryBatchSize: e.BATON_RECOVERY_BATCH_SIZE,
    dbPoolSize: e.BATON_DB_POOL_SIZE,
    dbConnectTimeoutMs: e.BATON_DB_CONNECT_TIMEOUT,
    dbQueryTimeoutMs: e.BATON_DB_QUERY_TIMEOUT,
    dbReadyTimeoutMs: e.BATON_DB_READY_TIMEOUT,
    payloadLimitBytes: e.BATON_PAYLOAD_LIMIT_BYTES,
    maxSleepMs: e.BATON_MAX_SLEEP,
    runMigrations: e.BATON_RUN_MIGRATIONS,
    logLevel: e.BATON_LOG_LEVEL,
    dataDir: e.BATON_DATA_DIR,
    embeddedPostgresPort: e.BATON_EMBEDDED_PG_PORT,
    auth: e.BATON_AUTH ?? (profile === 'all-in-one' && isLoopbackHost(host) ? 'off' : 'required'),
    adminKey: e.BATON_ADMIN_KEY,
    authCacheMs: e.BATON_AUTH_CACHE_TTL,
    rateLimitPerSecond: e.BATON_RATE_LIMIT,
    rateLimitBurst: e.BATON_RATE_LIMIT_BURST,
    maxPollsPerWorker: e.BATON_MAX_POLLS_PER_WORKER,
    tlsCertFile: e.BATON_TLS_CERT,
    tlsKeyFile: e.BATON_TLS_KEY,
    tlsClientCaFile: e.BATON_TLS_CLIENT_CA,
    natsUser: e.NATS_USER,
    natsPassword: e.NATS_PASSWORD,
    natsToken: e.NATS_TOKEN,
    natsCredsFile: e.NATS_CREDS,
    natsNkeySeedFile: e.NATS_NKEY_SEED,
    logFormat: e.BATON_LOG_FORMAT,
    retentionMs: e.BATON_RETENTION,
    retentionBatchSize: e.BATON_RETENTION_BATCH_SIZE,
    retentionIntervalMs: e.BATON_RETENTION_INTERVAL,
    grpcMaxConnectionAgeMs: e.BATON_GRPC_MAX_CONNECTION_AGE,
    grpcReflection: e.BATON_GRPC_REFLECTION,
    ui: e.BATON_UI,
    natsTlsCaFile: e.NATS_TLS_CA,
    natsTlsCertFile: e.NATS_TLS_CERT,
    natsTlsKeyFile: e.NATS_TLS_KEY,
  });
}

/** Defaults with overrides applied (the test harness's entry point), checked the same way. */
export function buildConfig(overrides: Partial<BatonConfig> = {}): BatonConfig {
  return validateConfig({ ...loadConfig({}), ...overrides });
}

/** Cross-field rules that a single variable cannot express. */
function validateConfig(config: BatonConfig): BatonConfig {
  const problems: string[] = [];
  if (config.heartbeatIntervalMs >= config.workerStaleThresholdMs) {
    problems.push('BATON_HEARTBEAT_INTERVAL must be shorter than BATON_WORKER_STALE_THRESHOLD');
  }
  if (config.heartbeatIntervalMs >= config.leaseDurationMs) {
    problems.push('BATON_HEARTBEAT_INTERVAL must be shorter than BATON_LEASE_DURATION (heartbeats extend leases)');
  }
  if (config.claimAckTimeoutMs > config.leaseDurationMs) {
    problems.push('BATON_CLAIM_ACK_TIMEOUT must not be longer than BATON_LEASE_DURATION');
  }
  if (config.recoveryBackoffMs > config.recoveryBackoffMaxMs) {
    problems.push('BATON_RECOVERY_BACKOFF must not be longer than BATON_RECOVERY_BACKOFF_MAX');
  }
  if (config.pollDeadlineMarginMs >= config.pollTimeoutMs) {
    problems.push('BATON_POLL_DEADLINE_MARGIN must be shorter than BATON_POLL_TIMEOUT');
  }
  if (config.maxSleepMs > LIMITS.maxSleepMs) {
    problems.push(`BATON_MAX_SLEEP must be at most ${LIMITS.maxSleepMs} ms (30 days)`);
  }
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    problems.push('BATON_TLS_CERT and BATON_TLS_KEY go together: set both or neither');
  }
  if (config.tlsClientCaFile !== undefined && config.tlsCertFile === undefined) {
    problems.push('BATON_TLS_CLIENT_CA (mTLS) needs BATON_TLS_CERT and BATON_TLS_KEY');
  }
  if ((config.natsUser === undefined) !== (config.natsPassword === undefined)) {
    problems.push('NATS_USER and NATS_PASSWORD go together: set both or neither');
  }
  const natsCredentials = [config.natsUser, config.natsToken, config.natsCredsFile, config.natsNkeySeedFile];
  if (natsCredentials.filter((v) => v !== undefined).length > 1) {
    problems.push('set one of NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED');
  }
  if ((config.natsTlsCertFile === undefined) !== (config.natsTlsKeyFile === undefined)) {
    problems.push('NATS_TLS_CERT and NATS_TLS_KEY go together: set both or neither');
  }
  if (config.rateLimitBurst < config.rateLimitPerSecond) {
    problems.push('BATON_RATE_LIMIT_BURST must be at least BATON_RATE_LIMIT');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...config });
}
