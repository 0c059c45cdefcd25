import { Socket, createServer } from 'node:net';
import type { Server } from 'node:net';
import { Client as PgClient } from 'pg';
import { TestHarness } from './test-harness';
import { TcpProxy } from './tcp-proxy';
import { POSTGRES_ADMIN_URL, adminQuery, portOpen } from './services';
import { waitFor } from './wait';

/** The suite's own machinery: teardown that cannot crash or leak, and a proxy that really cuts. */
describe('test harness', () => {
  async function databaseExists(name: string): Promise<boolean> {
    const admin = new PgClient({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      return (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    } finally {
      await admin.end();
    }
  }

  const databaseOf = (h: TestHarness) => new URL(h.config.databaseUrl!).pathname.slice(1);

  test('an idle connection killed under the pool neither crashes the process nor breaks the pool', async () => {
    const h = await TestHarness.start({ apps: [] });
    try {
      // Two idle clients in the pool, then PostgreSQL ends their sessions (as a restart or DROP … FORCE does).
      await Promise.all([h.query('SELECT pg_sleep(0.05)'), h.query('SELECT pg_sleep(0.05)')]);
      expect(h.db.idleCount).toBe(2);
      await adminQuery(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${databaseOf(h)}' AND state = 'idle'`,
      );
      // The sessions' end reaches each client as an error on its socket, when the kernel delivers it (a busy
      // machine may take a while): the pool drops them then, and the process survives the errors.
      await waitFor(() => h.db.totalCount === 0, 'the pool to drop its killed clients');
      expect(await h.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await h.stop();
    }
  });

  test('stop drops the database, waits for closing sessions, forces a leaked one, and can be called twice', async () => {
    const h = await TestHarness.start({ apps: [] });
    const database = databaseOf(h);
    // A session somebody forgot to close (with its own error listener, as every client here must have).
    const leaked = new PgClient({ connectionString: h.config.databaseUrl });
    leaked.on('error', () => undefined);
    await leaked.connect();
    await h.query('SELECT 1');
    await Promise.all([h.stop(), h.stop()]);
    expect(await databaseExists(database)).toBe(false);
    await leaked.end().catch(() => undefined);
  }, 30_000);

  describe('TcpProxy', () => {
    let echo: Server;
    let echoPort: number;
    const sockets = new Set<Socket>();

    beforeAll(async () => {
      echo = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.pipe(socket);
      });
      await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
      echoPort = (echo.address() as { port: number }).port;
    });

    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => echo.close(resolve));
    });

    const connect = (port: number) =>
      new Promise<Socket>((resolve, reject) => {
        const socket = new Socket();
        socket.once('error', reject);
        socket.connect(port, '127.0.0.1', () => resolve(socket));
      });
    const roundTrip = (socket: Socket, text: string) =>
      new Promise<string>((resolve) => {
        socket.once('data', (data) => resolve(data.toString()));
        socket.write(text);
      });

    test('forwards, cuts both sides and refuses, drops replies, and restores on the same port', async () => {
      const proxy = await TcpProxy.start(`127.0.0.1:${echoPort}`);
      try {
        const client = await connect(proxy.port);
        expect(await roundTrip(client, 'hello')).toBe('hello');
        expect(proxy.stats()).toMatchObject({ accepted: 1, open: 1, bytesUp: 5, bytesDown: 5 });

        const closed = new Promise((resolve) => client.once('close', resolve));
        proxy.cut();
        await closed;
        expect(proxy.stats()).toMatchObject({ open: 0, cut: 1 });
        expect(await portOpen('127.0.0.1', proxy.port)).toBe(false);

        await proxy.restore();
        const again = await connect(proxy.port);
        expect(await roundTrip(again, 'back')).toBe('back');

        proxy.dropReplies();
        again.write('lost');
        await waitFor(() => proxy.stats().droppedDown === 4, 'the echo to be dropped');
        expect(proxy.stats()).toMatchObject({ accepted: 2, bytesUp: 13, bytesDown: 9, droppedDown: 4 });
        again.destroy();
      } finally {
        proxy.close();
      }
    });
  });
});
