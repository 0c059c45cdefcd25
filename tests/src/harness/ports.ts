import { createServer } from 'node:net';

/**
 * A free port below the kernel's ephemeral range (32768+ here), so an outgoing
 * connection cannot take it while an app is restarted on it during a test.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 22_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
