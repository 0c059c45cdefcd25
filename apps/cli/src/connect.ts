import { createConnection } from 'node:net';
import { BatonError, ErrorCode } from '@baton/sdk';

/** How long the first connection may take before the server counts as unreachable. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** `host:port` or `[v6]:port`; null for what is not plainly that (`dns:///...`, `unix:...`). */
export function hostAndPort(address: string): { host: string; port: number } | null {
  const match = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})$/.exec(address);
  if (!match) return null;
  const port = Number(match[3]);
  return port > 0 && port < 65_536 ? { host: match[1] ?? match[2]!, port } : null;
}

/**
 * The SDK waits for a server that is away (it may be restarting) until the
 * call's deadline, which a person at a prompt should not sit through for a
 * server that is not there at all: one TCP connection tells at once.
 * Addresses that are not plain `host:port` are left to the SDK.
 */
export function checkReachable(address: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  const target = hostAndPort(address);
  if (!target) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const socket = createConnection(target);
    const fail = (why: string) => {
      socket.destroy();
      reject(
        new BatonError(
          ErrorCode.UNAVAILABLE,
          `cannot connect to the Baton server at ${address} (${why}); start one with \`baton dev\`, ` +
            'or point --address / BATON_ADDRESS at yours',
        ),
      );
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs} ms`));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
  });
}
