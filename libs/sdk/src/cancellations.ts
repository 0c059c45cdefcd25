import { SDK_DEFAULTS } from '@baton/contracts';
import type { BatonError } from '@baton/contracts';
import type { ServerStream, Transport } from './transport';

export interface CancellationFeedOptions {
  transport: Pick<Transport, 'stream'>;
  namespace: string;
  /** The server pushed the id of a cancelled run of this worker. */
  cancelled(runId: string): void;
  /** Once per outage of the feed, not per try. */
  report(err: unknown): void;
}

/** Milliseconds before reopening the feed after its n-th (1-based) consecutive failure. */
export function reopenDelayMs(failures: number): number {
  const { initialMs, factor, maxMs } = SDK_DEFAULTS.cancellationFeedBackoff;
  return Math.min(maxMs, initialMs * factor ** Math.min(failures - 1, 16));
}

/**
 * The worker's end of WatchCancellations: a server stream on which the
 * frontend pushes the ids of this worker's runs the moment they are
 * cancelled, so their handlers' ctx.signal aborts at once instead of at the
 * next heartbeat. Kept open from registration to stop; reopened with backoff
 * after an error or a frontend restart. Best effort: the heartbeat still
 * reports every cancelled run, so a feed that is down only delays.
 */
export class CancellationFeed {
  private workerId: string | null = null;
  private stream?: ServerStream;
  /** Which open() the current stream is: an end from an older one means nothing. */
  private generation = 0;
  private retryTimer?: NodeJS.Timeout;
  /** Streams ended since the feed was last live. */
  private failures = 0;
  /** The current outage has been reported. */
  private reported = false;
  private closed = false;

  constructor(private readonly options: CancellationFeedOptions) {}

  /** Feeds this worker id from now on; a new id (the worker registered again) replaces the stream at once. */
  watch(workerId: string): void {
    if (this.closed || workerId === this.workerId) return;
    this.workerId = workerId;
    this.failures = 0;
    this.reopen(0);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.stream?.cancel();
    this.stream = undefined;
  }

  private reopen(delayMs: number): void {
    this.stream?.cancel();
    this.stream = undefined;
    clearTimeout(this.retryTimer);
    if (delayMs === 0) this.open();
    else this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  private open(): void {
    if (this.closed || !this.workerId) return;
    const request = { namespace: this.options.namespace, workerId: this.workerId };
    const generation = ++this.generation;
    this.stream = this.options.transport.stream('worker', 'WatchCancellations', request, {
      open: () => {
        if (generation !== this.generation) return;
        this.failures = 0;
        this.reported = false;
      },
      message: (message) => {
        for (const runId of message.runIds ?? []) this.options.cancelled(runId);
      },
      end: (err) => this.ended(generation, err),
    });
  }

  /** A clean end (the frontend shutting down) is no outage to report; either way, open again. */
  private ended(generation: number, err: BatonError | null): void {
    if (generation !== this.generation || this.closed) return;
    this.stream = undefined;
    if (err && !this.reported) {
      this.reported = true;
      this.options.report(err);
    }
    this.reopen(reopenDelayMs(++this.failures));
  }
}
