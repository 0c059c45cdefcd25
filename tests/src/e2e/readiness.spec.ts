import { randomBytes } from 'node:crypto';
import { buildConfig } from '@baton/contracts';
import { bootstrapMatching } from '@baton/matching';
import { EXPECTED_MIGRATION, MIGRATIONS_TABLE, createDataSource, runMigrations } from '@baton/persistence';
import { installLogger } from '@baton/runtime';
import type { RunningApp } from '@baton/runtime';
import request from 'supertest';
import { TestHarness, waitFor } from '../index';
import { freePort } from '../harness/ports';
import { adminQuery, databaseUrl } from '../harness/services';

interface Readyz {
  status: number;
  body: { status: string; failed: string[]; checks: Record<string, { ok: boolean; detail: string }> };
}

/** GET /readyz on `port`, failing the request if no answer comes within `deadlineMs`. */
async function readyz(port: number, deadlineMs = 2_000): Promise<Readyz> {
  const res = await request(`http://127.0.0.1:${port}`).get('/readyz').timeout(deadlineMs);
  return { status: res.status, body: res.body as Readyz['body'] };
}

/** A JSON log line as every service writes it when stdout is not a terminal. */
interface LogLine {
  time: string;
  level: string;
  service: string;
  context?: string;
  message: string;
}

const asLogLine = (line: string): LogLine | null => {
  try {
    const parsed = JSON.parse(line) as Partial<LogLine>;
    return typeof parsed.level === 'string' && typeof parsed.message === 'string' ? (parsed as LogLine) : null;
  } catch {
    return null;
  }
};

/** Every log line the apps in this process write while it is on (they write to stdout and stderr). */
function captureLogs(): { lines: LogLine[]; stop: () => void } {
  const lines: LogLine[] = [];
  const restore = (['stdout', 'stderr'] as const).map((name) => {
    const stream = process[name];
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      for (const line of String(chunk).split('\n')) {
        const parsed = asLogLine(line);
        if (parsed) lines.push(parsed);
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
    return () => (stream.write = write as typeof stream.write);
  });
  return { lines, stop: () => restore.forEach((undo) => undo()) };
}

/** A line's message without the "(repeated N times in S s)" the rate limit adds. */
const baseMessage = (message: string) => message.replace(/ \(repeated \d+ times in \d+ s\)$/, '');

describe('readiness and structured logs (issue 10)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start({
      databaseThroughProxy: true,
      // The outage below must not make live workers stale or expire leases: this file is about logs and probes.
      workerStaleThresholdSecs: 30,
      leaseDurationSecs: 30,
      overrides: { logFormat: 'json', logLevel: 'error' },
    });
  });

  afterAll(async () => {
    await h?.stop();
  });

  const probePorts = () => [
    h.config.httpPort,
    h.config.matchingHealthPort,
    h.config.schedulerHealthPort,
    h.config.watchdogHealthPort,
  ];

  test('every app is ready on a migrated database with NATS up; /healthz stays a cheap 200', async () => {
    for (const port of probePorts()) {
      const { status, body } = await readyz(port);
      expect({ port, status, body }).toEqual({
        port,
        status: 200,
        body: {
          status: 'ready',
          failed: [],
          checks: {
            startup: { ok: true, detail: 'started' },
            database: { ok: true, detail: 'answered' },
            migrations: { ok: true, detail: `at ${EXPECTED_MIGRATION}` },
            nats: { ok: true, detail: 'connected' },
          },
        },
      });
      const health = await request(`http://127.0.0.1:${port}`).get('/healthz');
      expect(health.status).toBe(200);
    }
  });

  test('the frontend echoes the caller’s x-request-id, and makes one up when there is none or it is unusable', async () => {
    const given = await h.http().get('/v1/namespaces/default/workflows').set('x-request-id', 'trace-me-42');
    expect(given.headers['x-request-id']).toBe('trace-me-42');
    const made = await h.http().get('/v1/namespaces/default/workflows');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const unusable = await h.http().get('/readyz').set('x-request-id', 'x'.repeat(500));
    expect(unusable.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('a line logged while serving an API call carries its request id, namespace and key', async () => {
    // Warnings on, for this test only: a large run input is one.
    installLogger({ ...h.config, logLevel: 'warn' });
    const capture = captureLogs();
    try {
      const input = 'x'.repeat(1_100_000);
      await h
        .http()
        .post('/v1/namespaces/default/workflows')
        .set('x-request-id', 'big-input-1')
        .send({ workflowType: 'large', queue: h.unique(), input })
        .expect(201);
    } finally {
      capture.stop();
      installLogger(h.config);
    }
    const warning = capture.lines.find((line) => /large payloads slow replays/.test(line.message));
    expect(warning).toMatchObject({
      level: 'warn',
      service: 'server',
      requestId: 'big-input-1',
      namespace: 'default',
      keyId: 'anonymous',
    });
  });

  test('503 naming the migration on a database that lacks this build’s last migration', async () => {
    const database = `baton_test_ready_${randomBytes(4).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${database}`);
    let app: RunningApp | undefined;
    const migrator = createDataSource({ url: databaseUrl(database), poolSize: 2 });
    try {
      // A matching of its own, on a subject prefix of its own: it never serves this file's workers.
      const config = buildConfig({
        ...h.config,
        databaseUrl: databaseUrl(database),
        subjectPrefix: `${h.config.subjectPrefix}.scratch`,
        matchingHealthPort: await freePort(),
      });
      app = await bootstrapMatching(config, {});
      const port = config.matchingHealthPort;

      // Never migrated: no migrations table at all.
      let probe = await readyz(port);
      expect(probe.status).toBe(503);
      expect(probe.body.failed).toEqual(['migrations']);
      expect(probe.body.checks.database).toEqual({ ok: true, detail: 'answered' });
      expect(probe.body.checks.migrations!.detail).toContain(`migration ${EXPECTED_MIGRATION} is not applied`);

      await migrator.initialize();
      await runMigrations(migrator);
      expect((await readyz(port)).status).toBe(200);

      // One migration behind: an older release migrated it, this build needs the latest.
      await migrator.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = $1`, [EXPECTED_MIGRATION]);
      probe = await readyz(port);
      expect(probe.status).toBe(503);
      expect(probe.body.failed).toEqual(['migrations']);
      expect(probe.body.checks.migrations).toEqual({ ok: false, detail: expect.stringContaining(EXPECTED_MIGRATION) });
    } finally {
      await app?.close();
      if (migrator.isInitialized) await migrator.destroy();
      await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  });

  test('503 within 2 s while the database hangs, naming the database; ready again after', async () => {
    const proxy = h.databaseProxy!;
    // Requests reach PostgreSQL, its answers never come back: a hung server.
    proxy.dropReplies();
    try {
      for (const port of probePorts()) {
        const startedAt = Date.now();
        const { status, body } = await readyz(port, 2_000);
        expect(Date.now() - startedAt).toBeLessThan(2_000);
        expect(status).toBe(503);
        expect(body.failed).toEqual(['database']);
        expect(body.checks.database!.detail).toMatch(/no answer within \d+ ms/);
      }
    } finally {
      // Connections that lost answers cannot resume: tear them down.
      proxy.cut();
      await proxy.restore();
    }
    for (const port of probePorts()) {
      await waitFor(async () => (await readyz(port)).status === 200, `port ${port} ready again`, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
    }
  });

  test('a database outage logs each recurring error once per few seconds, not on every tick', async () => {
    // Polls waiting in matching keep claim rounds going (every fallback tick) all through the outage.
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('noop', async () => 'ok');
    await worker.start();
    const proxy = h.databaseProxy!;
    const capture = captureLogs();
    const outageMs = 8_000;
    let errors: LogLine[];
    try {
      proxy.cut();
      const cutAt = Date.now();
      await waitFor(() => Date.now() - cutAt >= outageMs, 'the outage to last', { timeoutMs: outageMs + 1_000 });
      errors = capture.lines.filter((line) => line.level === 'error');
    } finally {
      capture.stop();
      await proxy.restore();
    }
    await worker.stop();

    const byMessage = new Map<string, number>();
    for (const line of errors) {
      const key = `${line.context} ${baseMessage(line.message)}`;
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
    }
    // Every job failed on every tick, yet each error is written at most once per 5 s window: the first
    // time, then once per window that passed, saying how many were held back.
    expect(errors.some((line) => /^wake-sleepers failed: database unavailable/.test(line.message))).toBe(true);
    const limit = Math.ceil(outageMs / 5_000) + 1;
    expect([...byMessage].filter(([, count]) => count > limit)).toEqual([]);
    expect(errors.some((line) => /failed: .* \(repeated \d+ times in \d+ s\)$/.test(line.message))).toBe(true);
    // Most jobs fail every second; a few lines a second is what is left of them.
    expect(errors.length / (outageMs / 1000)).toBeLessThan(5);
    for (const line of errors) {
      expect(line).toMatchObject({ service: 'server', time: expect.any(String), context: expect.any(String) });
    }
    for (const port of probePorts()) {
      await waitFor(async () => (await readyz(port)).status === 200, `port ${port} ready after the outage`, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
    }
  });

  test('split deployment: 503 naming NATS while it is unreachable; the process logs JSON lines', async () => {
    const nats = new URL(h.config.natsUrl!);
    const link = await h.proxy(`${nats.hostname}:${nats.port || 4222}`);
    const port = await freePort();
    // A second scheduler, in its own process, reaching NATS through a link the test can cut. Its stdout
    // is a pipe, so the default format (auto) is JSON.
    const child = h.spawnApp('scheduler', {
      NATS_URL: `nats://${link.address}`,
      BATON_SCHEDULER_HEALTH_PORT: String(port),
      BATON_LOG_FORMAT: 'auto',
      BATON_LOG_LEVEL: 'info',
    });
    await child.ready();
    expect((await readyz(port)).body.checks.nats).toEqual({ ok: true, detail: 'connected' });

    link.cut();
    const down = await waitFor(
      async () => {
        const probe = await readyz(port);
        return probe.status === 503 ? probe : null;
      },
      'the scheduler to report NATS down',
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(down.body.failed).toEqual(['nats']);
    expect(down.body.checks.nats!.ok).toBe(false);
    expect(down.body.checks.database).toEqual({ ok: true, detail: 'answered' });

    await link.restore();
    await waitFor(async () => (await readyz(port)).status === 200, 'the scheduler ready again', {
      timeoutMs: 15_000,
      intervalMs: 100,
    });

    await child.kill('SIGTERM');
    const lines = child.output.split('\n').filter((line) => line !== '');
    // The output kept is a tail: its first line may be cut.
    if (child.output.length >= 20_000) lines.shift();
    // At least: listening, not ready, ready again, shutting down (Nest's own start-up lines are debug).
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
      expect(parsed).toMatchObject({
        time: expect.any(String),
        level: expect.stringMatching(/^(fatal|error|warn|info|debug|verbose)$/),
        service: 'scheduler',
        message: expect.anything(),
      });
    }
    const logged = lines.map((line) => JSON.parse(line) as LogLine);
    expect(logged.some((line) => line.context === 'Readiness' && /not ready: nats/.test(line.message))).toBe(true);
    expect(logged.some((line) => line.message === 'SIGTERM: shutting down')).toBe(true);
  });
});
