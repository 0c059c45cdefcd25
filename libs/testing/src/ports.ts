import { createServer } from 'node:net';

/** A port the kernel says is free right now; the caller binds it soon after (see `bindConflict`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A start that failed because a port picked by `freePort` was taken in the
 * gap before the server bound it (another process, an outgoing connection):
 * worth another try with new ports, unlike any other start failure.
 */
export function bindConflict(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === 'EADDRINUSE') return true;
    if (typeof message === 'string' && /EADDRINUSE|address already in use|No address added/i.test(message)) return true;
  }
  return false;
}
