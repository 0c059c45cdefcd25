import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { Client, Worker } from '@baton/sdk';
import { startAllInOne } from './launcher';
import type { AllInOne, AllInOneOptions } from './launcher';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The launcher failed to bind a port `freePort` gave: something took it in between (the kernel hands it out again). */
const portTaken = (err: unknown) => /EADDRINUSE|address already in use/i.test(String((err as Error)?.message ?? err));

// initdb plus four apps take a few seconds, more on a busy 2-core machine.
const TIMEOUT_MS = 120_000;

// Nothing configured but ports and a data directory: no DATABASE_URL, no NATS_URL.
describe('all-in-one server', () => {
  let dataDir: string;
  let config: BatonConfig;
  let options: AllInOneOptions;
  let server: AllInOne | undefined;
  let runId: string;
  const clients: Client[] = [];
  const workers: Worker[] = [];

  const address = () => `127.0.0.1:${config.grpcPort}`;
  const client = () => {
    const c = new Client({ address: address() });
    clients.push(c);
    return c;
  };

  async function pickPorts(): Promise<void> {
    config = buildConfig({
      host: '127.0.0.1',
      httpPort: await freePort(),
      grpcPort: await freePort(),
      matchingHealthPort: await freePort(),
      schedulerHealthPort: await freePort(),
      watchdogHealthPort: await freePort(),
      dataDir,
      logLevel: 'warn',
      auth: 'off',
    });
    options = { embeddedPostgresPort: await freePort() };
  }

  /** Starts the server; a port taken between picking and binding is picked again (the only failure worth a retry). */
  async function start(): Promise<AllInOne> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startAllInOne(config, options);
      } catch (err) {
        if (!portTaken(err) || attempt === 3) throw err;
        await pickPorts();
      }
    }
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'baton-all-in-one-'));
    // As root PostgreSQL runs as `postgres`, which must be able to enter the directory (mkdtemp makes it 0700).
    await chmod(dataDir, 0o755);
    await pickPorts();
  });

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    for (const c of clients) c.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  }, TIMEOUT_MS);

  test(
    'runs a workflow end to end on embedded PostgreSQL and the in-process bus',
    async () => {
      expect(config.databaseUrl).toBeUndefined();
      expect(config.natsUrl).toBeUndefined();
      server = await start();
      expect(server.embeddedDatabase?.created).toBe(true);
      expect(server.transport).toBe('in-process');
      expect(server.config.databaseUrl).toMatch(
        new RegExp(`^postgres://.*@127\\.0\\.0\\.1:${options.embeddedPostgresPort}/baton$`),
      );

      const http = `http://127.0.0.1:${config.httpPort}`;
      expect((await fetch(`${http}/healthz`)).status).toBe(200);
      expect((await fetch(`${http}/docs`)).status).toBe(200);

      const worker = new Worker({ address: address(), queue: 'all-in-one', shutdownGraceMs: 2_000 });
      workers.push(worker);
      worker.register('greet', async (ctx, name: string) => ctx.step('compose', () => `hello, ${name}`));
      await worker.start();
      const run = await client().start('greet', 'baton', { queue: 'all-in-one' });
      runId = run.id;
      await expect(client().result(run.id, { timeout: '30s' })).resolves.toBe('hello, baton');
      await worker.stop();
    },
    TIMEOUT_MS,
  );

  test(
    'keeps runs across a restart on the same data directory',
    async () => {
      expect(runId).toBeDefined();
      await server!.close();
      server = await start();
      expect(server.embeddedDatabase?.created).toBe(false);

      const stored = await client().get(runId);
      expect(stored.status).toBe('COMPLETED');
      expect(stored.output).toBe('hello, baton');
      const steps = await client().steps(runId);
      expect(steps.map((s) => [s.stepId, s.status])).toEqual([['compose', 'COMPLETED']]);
    },
    TIMEOUT_MS,
  );
});
