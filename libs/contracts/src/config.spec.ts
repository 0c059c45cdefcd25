import { buildConfig, ConfigError, loadConfig, type BatonConfig } from './config';
import { LIMITS } from './limits';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('safe defaults', () => {
  it('the services on their own listen everywhere and require keys', () => {
    const config = loadConfig({}, 'service');
    expect([config.host, config.auth]).toEqual(['0.0.0.0', 'required']);
  });

  it('the all-in-one binds 127.0.0.1 and, so bound, runs without keys', () => {
    const config = loadConfig({}, 'all-in-one');
    expect([config.host, config.auth]).toEqual(['127.0.0.1', 'off']);
  });

  it('the all-in-one on another interface requires keys unless told otherwise', () => {
    expect(loadConfig({ BATON_HOST: '0.0.0.0' }, 'all-in-one').auth).toBe('required');
    expect(loadConfig({ BATON_HOST: '0.0.0.0', BATON_AUTH: 'off' }, 'all-in-one').auth).toBe('off');
    expect(loadConfig({ BATON_AUTH: 'required' }, 'all-in-one').auth).toBe('required');
  });

  it('rejects a short bootstrap key and half a TLS pair', () => {
    const problems = configError(() => loadConfig({ BATON_ADMIN_KEY: 'short', BATON_TLS_CERT: '/c.pem' }));
    expect(problems.message).toMatch(/BATON_ADMIN_KEY: must be at least 32 characters/);
    const pair = configError(() => loadConfig({ BATON_TLS_CERT: '/c.pem' }));
    expect(pair.message).toMatch(/BATON_TLS_CERT and BATON_TLS_KEY go together/);
  });
});

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  it('has the documented defaults', () => {
    expect(config).toEqual<BatonConfig>({
      databaseUrl: undefined,
      natsUrl: undefined,
      subjectPrefix: 'baton',
      host: '0.0.0.0',
      httpPort: 8080,
      grpcPort: 50051,
      matchingHealthPort: 8081,
      schedulerHealthPort: 8082,
      watchdogHealthPort: 8083,
      pollTimeoutMs: 30_000,
      heartbeatIntervalMs: 5000,
      workerStaleThresholdMs: 30_000,
      leaseDurationMs: 30_000,
      claimAckTimeoutMs: 5000,
      recoveryLimit: 25,
      recoveryBackoffMs: 500,
      recoveryBackoffMaxMs: 30_000,
      watchdogIntervalMs: 1000,
      schedulerIntervalMs: 1000,
      matchingFallbackMs: 1000,
      pollDeadlineMarginMs: 200,
      matchingWorkerCacheMs: 5000,
      eagerDispatch: true,
      wakeBatchSize: 500,
      reconcileIntervalMs: 60000,
      embeddedPostgresPort: 5433,
      recoveryBatchSize: 500,
      dbPoolSize: 10,
      dbConnectTimeoutMs: 5000,
      dbQueryTimeoutMs: 30_000,
      dbReadyTimeoutMs: 1000,
      payloadLimitBytes: 2_097_152,
      maxSleepMs: LIMITS.maxSleepMs,
      runMigrations: true,
      logLevel: 'info',
      dataDir: '.baton',
      auth: 'required',
      adminKey: undefined,
      authCacheMs: 5000,
      rateLimitPerSecond: 1000,
      rateLimitBurst: 2000,
      maxPollsPerWorker: 16,
      tlsCertFile: undefined,
      tlsKeyFile: undefined,
      tlsClientCaFile: undefined,
      natsUser: undefined,
      natsPassword: undefined,
      natsToken: undefined,
      natsCredsFile: undefined,
      natsNkeySeedFile: undefined,
      logFormat: 'auto',
      retentionMs: 30 * 24 * 60 * 60 * 1000,
      retentionBatchSize: 500,
      retentionIntervalMs: 60_000,
      grpcMaxConnectionAgeMs: 300_000,
      grpcReflection: true,
      ui: true,
      natsTlsCaFile: undefined,
      natsTlsCertFile: undefined,
      natsTlsKeyFile: undefined,
    });
  });

  it('rejects an acknowledgement timeout longer than the lease, and a backoff above its cap', () => {
    const problems = configError(() =>
      loadConfig({ BATON_CLAIM_ACK_TIMEOUT: '40s', BATON_RECOVERY_BACKOFF: '2m', BATON_RECOVERY_BACKOFF_MAX: '1m' }),
    ).problems;
    expect(problems).toEqual([
      'BATON_CLAIM_ACK_TIMEOUT must not be longer than BATON_LEASE_DURATION',
      'BATON_RECOVERY_BACKOFF must not be longer than BATON_RECOVERY_BACKOFF_MAX',
    ]);
  });

  it('leaves databaseUrl and natsUrl unset (embedded database, in-process transport)', () => {
    expect(config.databaseUrl).toBeUndefined();
    expect(config.natsUrl).toBeUndefined();
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { httpPort: number }).httpPort = 1;
    }).toThrow(TypeError);
    expect(config.httpPort).toBe(8080);
  });

  it('treats empty and undefined variables as unset', () => {
    expect(loadConfig({ BATON_HTTP_PORT: '', BATON_POLL_TIMEOUT: undefined, DATABASE_URL: '' })).toEqual(
      loadConfig({}),
    );
  });

  it('ignores unrelated variables', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root', BATON_UNKNOWN: 'x' })).toEqual(loadConfig({}));
  });
});

describe('loadConfig overrides', () => {
  it('parses duration variables', () => {
    const config = loadConfig({
      BATON_POLL_TIMEOUT: '45s',
      BATON_HEARTBEAT_INTERVAL: '2500ms',
      BATON_WORKER_STALE_THRESHOLD: '1m',
      BATON_LEASE_DURATION: '1m30s',
      BATON_WATCHDOG_INTERVAL: '500',
      BATON_SCHEDULER_INTERVAL: '2s',
      BATON_MATCHING_FALLBACK_INTERVAL: '1.5s',
      BATON_POLL_DEADLINE_MARGIN: '100ms',
      BATON_MAX_SLEEP: '7d',
    });
    expect(config.pollTimeoutMs).toBe(45_000);
    expect(config.heartbeatIntervalMs).toBe(2500);
    expect(config.workerStaleThresholdMs).toBe(60_000);
    expect(config.leaseDurationMs).toBe(90_000);
    expect(config.watchdogIntervalMs).toBe(500);
    expect(config.schedulerIntervalMs).toBe(2000);
    expect(config.matchingFallbackMs).toBe(1500);
    expect(config.pollDeadlineMarginMs).toBe(100);
    expect(config.maxSleepMs).toBe(7 * 86_400_000);
  });

  it('parses ports, counts, booleans and text', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://baton:secret@db:5432/baton',
      NATS_URL: 'nats://nats:4222',
      BATON_SUBJECT_PREFIX: 'test_1.run-2',
      BATON_HOST: '127.0.0.1',
      BATON_HTTP_PORT: '3000',
      BATON_GRPC_PORT: '0',
      BATON_MATCHING_HEALTH_PORT: '65535',
      BATON_WAKE_BATCH_SIZE: '100',
      BATON_RECOVERY_BATCH_SIZE: '1',
      BATON_DB_POOL_SIZE: '500',
      BATON_PAYLOAD_LIMIT_BYTES: '1024',
      BATON_RUN_MIGRATIONS: 'false',
      BATON_LOG_LEVEL: 'debug',
      BATON_DATA_DIR: '/var/lib/baton',
    });
    expect(config).toMatchObject({
      databaseUrl: 'postgres://baton:secret@db:5432/baton',
      natsUrl: 'nats://nats:4222',
      subjectPrefix: 'test_1.run-2',
      host: '127.0.0.1',
      httpPort: 3000,
      grpcPort: 0,
      matchingHealthPort: 65535,
      wakeBatchSize: 100,
      recoveryBatchSize: 1,
      dbPoolSize: 500,
      payloadLimitBytes: 1024,
      runMigrations: false,
      logLevel: 'debug',
      dataDir: '/var/lib/baton',
    });
  });

  it('accepts postgresql:// as well as postgres://', () => {
    expect(loadConfig({ DATABASE_URL: 'postgresql://localhost/db' }).databaseUrl).toBe('postgresql://localhost/db');
  });

  it.each(['nats://h:4222', 'tls://h:4222', 'ws://h:80', 'wss://h:443'])('accepts NATS_URL %p', (url) => {
    expect(loadConfig({ NATS_URL: url }).natsUrl).toBe(url);
  });

  it.each([
    ['true', true],
    ['1', true],
    ['false', false],
    ['0', false],
  ])('reads BATON_RUN_MIGRATIONS=%p as %p', (text, value) => {
    expect(loadConfig({ BATON_RUN_MIGRATIONS: text }).runMigrations).toBe(value);
  });

  it.each([
    ['false', false],
    ['0', false],
    ['true', true],
  ])('reads BATON_EAGER_DISPATCH=%p as %p', (text, value) => {
    expect(loadConfig({ BATON_EAGER_DISPATCH: text }).eagerDispatch).toBe(value);
  });
});

describe('database timeouts', () => {
  it('parses the connect, query and readiness timeouts', () => {
    const config = loadConfig({
      BATON_DB_CONNECT_TIMEOUT: '2s',
      BATON_DB_QUERY_TIMEOUT: '1m',
      BATON_DB_READY_TIMEOUT: '500ms',
    });
    expect(config.dbConnectTimeoutMs).toBe(2000);
    expect(config.dbQueryTimeoutMs).toBe(60_000);
    expect(config.dbReadyTimeoutMs).toBe(500);
  });

  it('rejects a zero or unreadable timeout, naming the variable', () => {
    const problems = configError(() =>
      loadConfig({ BATON_DB_CONNECT_TIMEOUT: '0', BATON_DB_QUERY_TIMEOUT: 'soon', BATON_DB_READY_TIMEOUT: '-1s' }),
    ).problems;
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(/^BATON_DB_CONNECT_TIMEOUT: /);
    expect(problems[1]).toMatch(/^BATON_DB_QUERY_TIMEOUT: /);
    expect(problems[2]).toMatch(/^BATON_DB_READY_TIMEOUT: /);
  });
});

describe('loadConfig rejects bad values, naming the variable', () => {
  it.each([
    ['BATON_HTTP_PORT', 'abc'],
    ['BATON_HTTP_PORT', '65536'],
    ['BATON_HTTP_PORT', '-1'],
    ['BATON_HTTP_PORT', '80.5'],
    ['BATON_GRPC_PORT', 'grpc'],
    ['BATON_POLL_TIMEOUT', 'soon'],
    ['BATON_POLL_TIMEOUT', '0'],
    ['BATON_POLL_TIMEOUT', '-5s'],
    ['BATON_LEASE_DURATION', '30 seconds'],
    ['DATABASE_URL', 'mysql://x'],
    ['DATABASE_URL', 'not a url'],
    ['NATS_URL', 'http://nats:4222'],
    ['NATS_URL', 'nats:4222'],
    ['BATON_SUBJECT_PREFIX', 'a.*'],
    ['BATON_SUBJECT_PREFIX', 'a..b'],
    ['BATON_WAKE_BATCH_SIZE', '0'],
    ['BATON_DB_POOL_SIZE', '501'],
    ['BATON_PAYLOAD_LIMIT_BYTES', String(LIMITS.payloadBytes + 1)],
    ['BATON_RUN_MIGRATIONS', 'yes'],
    ['BATON_EAGER_DISPATCH', 'yes'],
    ['BATON_LOG_LEVEL', 'trace'],
  ])('%s=%p', (name, value) => {
    const err = configError(() => loadConfig({ [name]: value }));
    expect(err.name).toBe('ConfigError');
    expect(err.message).toContain(name);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatch(new RegExp(`^${name}: `));
  });

  it('quotes the bad duration text', () => {
    const err = configError(() => loadConfig({ BATON_POLL_TIMEOUT: 'soon' }));
    expect(err.message).toContain('"soon"');
  });

  it('reports every bad variable at once', () => {
    const err = configError(() =>
      loadConfig({ BATON_HTTP_PORT: 'abc', BATON_POLL_TIMEOUT: 'soon', DATABASE_URL: 'mysql://x' }),
    );
    expect(err.problems).toHaveLength(3);
    for (const name of ['BATON_HTTP_PORT', 'BATON_POLL_TIMEOUT', 'DATABASE_URL']) {
      expect(err.message).toContain(name);
    }
    expect(err.message).toMatch(/^Invalid Baton configuration:\n {2}- /);
  });
});

describe('cross-field rules', () => {
  it('rejects a heartbeat equal to the stale threshold', () => {
    const err = configError(() =>
      loadConfig({ BATON_HEARTBEAT_INTERVAL: '10s', BATON_WORKER_STALE_THRESHOLD: '10s', BATON_LEASE_DURATION: '1m' }),
    );
    expect(err.problems).toEqual(['BATON_HEARTBEAT_INTERVAL must be shorter than BATON_WORKER_STALE_THRESHOLD']);
  });

  it('rejects a heartbeat longer than the stale threshold', () => {
    const err = configError(() =>
      loadConfig({ BATON_HEARTBEAT_INTERVAL: '20s', BATON_WORKER_STALE_THRESHOLD: '10s', BATON_LEASE_DURATION: '1m' }),
    );
    expect(err.message).toContain('BATON_WORKER_STALE_THRESHOLD');
  });

  it('accepts a heartbeat just under the stale threshold', () => {
    const c = loadConfig({ BATON_HEARTBEAT_INTERVAL: '9999', BATON_WORKER_STALE_THRESHOLD: '10s' });
    expect(c.heartbeatIntervalMs).toBe(9999);
  });

  it('rejects a heartbeat not shorter than the lease', () => {
    const err = configError(() =>
      loadConfig({ BATON_HEARTBEAT_INTERVAL: '30s', BATON_WORKER_STALE_THRESHOLD: '1m', BATON_LEASE_DURATION: '30s' }),
    );
    expect(err.problems).toEqual([
      'BATON_HEARTBEAT_INTERVAL must be shorter than BATON_LEASE_DURATION (heartbeats extend leases)',
    ]);
  });

  it('reports both heartbeat problems together', () => {
    const err = configError(() => loadConfig({ BATON_HEARTBEAT_INTERVAL: '30s' }));
    expect(err.problems).toHaveLength(2);
  });

  it('rejects a poll deadline margin not shorter than the poll timeout', () => {
    const err = configError(() => loadConfig({ BATON_POLL_TIMEOUT: '1s', BATON_POLL_DEADLINE_MARGIN: '1s' }));
    expect(err.message).toContain('BATON_POLL_DEADLINE_MARGIN');
    expect(err.message).toContain('BATON_POLL_TIMEOUT');
  });

  it('takes one kind of bus credential: an nkey seed and nothing else', () => {
    expect(loadConfig({ NATS_NKEY_SEED: '/run/secrets/baton.nk' }).natsNkeySeedFile).toBe('/run/secrets/baton.nk');
    const only = 'set one of NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED';
    for (const other of [{ NATS_TOKEN: 't' }, { NATS_CREDS: 'b.creds' }, { NATS_USER: 'u', NATS_PASSWORD: 'p' }]) {
      expect(configError(() => loadConfig({ NATS_NKEY_SEED: 'b.nk', ...other })).problems).toEqual([only]);
    }
  });

  it('caps BATON_MAX_SLEEP at 30 days inclusive', () => {
    expect(loadConfig({ BATON_MAX_SLEEP: '30d' }).maxSleepMs).toBe(LIMITS.maxSleepMs);
    const err = configError(() => loadConfig({ BATON_MAX_SLEEP: '30d1ms' }));
    expect(err.message).toContain('BATON_MAX_SLEEP');
    expect(err.message).toContain(String(LIMITS.maxSleepMs));
  });
});

describe('buildConfig', () => {
  it('gives the defaults without overrides', () => {
    expect(buildConfig()).toEqual(loadConfig({}));
  });

  it('applies overrides on top of the defaults', () => {
    const config = buildConfig({
      httpPort: 0,
      subjectPrefix: 'test.abc',
      pollTimeoutMs: 500,
      pollDeadlineMarginMs: 50,
    });
    expect(config.httpPort).toBe(0);
    expect(config.subjectPrefix).toBe('test.abc');
    expect(config.pollTimeoutMs).toBe(500);
    expect(config.pollDeadlineMarginMs).toBe(50);
    expect(config.grpcPort).toBe(50051);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(buildConfig({ httpPort: 1234 }))).toBe(true);
  });

  it('checks the cross-field rules on the overrides', () => {
    const err = configError(() => buildConfig({ heartbeatIntervalMs: 40_000 }));
    expect(err.message).toContain('BATON_HEARTBEAT_INTERVAL');
    expect(() => buildConfig({ pollTimeoutMs: 100 })).toThrow(ConfigError);
    expect(() => buildConfig({ maxSleepMs: LIMITS.maxSleepMs + 1 })).toThrow(ConfigError);
  });

  it('accepts overrides that make a rule hold again', () => {
    const config = buildConfig({
      heartbeatIntervalMs: 40_000,
      workerStaleThresholdMs: 60_000,
      leaseDurationMs: 60_000,
    });
    expect(config.heartbeatIntervalMs).toBe(40_000);
  });
});
