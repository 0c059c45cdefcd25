import { join } from 'node:path';
import { Patterns } from '@baton/contracts';
import type { PollRequest } from '@baton/contracts';
import type { TestHarness } from './test-harness';

// The NATS client the messaging library is built on (a dependency of libs/messaging, not of the suite).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const nats = require(
  require.resolve('@nats-io/transport-node', { paths: [join(__dirname, '..', '..', '..', 'libs', 'messaging')] }),
);

/**
 * Listens on the real NATS server to the poll requests the frontend forwards
 * to matching (a plain subscriber gets a copy of every message; matching's
 * queue group is unaffected). Lets a test act once a poll has provably left
 * the frontend, and read the deadline the frontend gave it, instead of
 * guessing with sleeps.
 */
export class PollTap {
  private readonly seen: PollRequest[] = [];
  private readonly listeners = new Set<() => void>();

  private constructor(private readonly connection: { drain(): Promise<void> }) {}

  static async start(h: TestHarness): Promise<PollTap> {
    const connection = await nats.connect({ servers: h.config.natsUrl, name: 'test-poll-tap' });
    const tap = new PollTap(connection);
    const sub = connection.subscribe(`${h.config.subjectPrefix}.${Patterns.poll}`);
    void (async () => {
      for await (const msg of sub) {
        try {
          const packet = JSON.parse(new TextDecoder().decode(msg.data));
          tap.seen.push((packet.data ?? packet) as PollRequest);
        } catch {
          continue;
        }
        for (const listener of tap.listeners) listener();
      }
    })();
    await connection.flush();
    return tap;
  }

  /** Polls seen so far. */
  get polls(): readonly PollRequest[] {
    return this.seen;
  }

  /** Resolves with the next poll of `workerId` forwarded after this call (call it before sending the poll). */
  next(workerId: string, timeoutMs = 10_000): Promise<PollRequest> {
    const seen = this.seen.filter((p) => p.workerId === workerId).length;
    return this.waitFor(workerId, seen + 1, timeoutMs);
  }

  /** Resolves with the `n`-th poll (1-based) of `workerId` once it has been forwarded to matching. */
  waitFor(workerId: string, n = 1, timeoutMs = 10_000): Promise<PollRequest> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const mine = this.seen.filter((p) => p.workerId === workerId);
        if (mine.length >= n) {
          this.listeners.delete(check);
          clearTimeout(timer);
          resolve(mine[n - 1]!);
        }
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`poll #${n} of worker ${workerId} never reached NATS within ${timeoutMs} ms`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    await this.connection.drain().catch(() => undefined);
  }
}
