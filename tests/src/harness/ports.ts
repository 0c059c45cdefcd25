import { createServer } from 'node:net';

/** Ports handed out by `freePort`, below the kernel's ephemeral range (32768+ here). */
const RANGE = { first: 10_000, size: 22_000 };
/** Jest runs at most this many files at once; each worker picks from its own slice. */
const MAX_WORKERS = 4;
const SLICE = Math.floor(RANGE.size / MAX_WORKERS);
const worker = (Number(process.env.JEST_WORKER_ID) || 1) - 1;
const sliceStart = RANGE.first + (worker % MAX_WORKERS) * SLICE;
/** Where this file's walk through its slice starts: files run one after another in one worker. */
let next = Math.floor(Math.random() * SLICE);

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range, so an outgoing connection
 * cannot take it while an app is restarted on it during a test. A port is
 * only free when checked; so that two test files running at once never pick
 * the same one in the gap before their app binds it, each Jest worker walks
 * its own slice of the range and never hands out a port twice.
 */
export async function freePort(): Promise<number> {
  for (let tried = 0; tried < SLICE; tried++) {
    const port = sliceStart + (next++ % SLICE);
    if (await listenable(port)) return port;
  }
  throw new Error(`no free port in ${sliceStart}..${sliceStart + SLICE - 1}`);
}
