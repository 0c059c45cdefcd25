import { Inject, Injectable } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import { BatonError, ErrorReason, METRICS, WorkerStatus } from '@baton/contracts';
import type { RunCancelledEvent } from '@baton/contracts';
import { WorkersRepository } from '@baton/persistence';
import { METRICS_REGISTRY, instrument } from '@baton/runtime';
import type { Gauge, Registry } from 'prom-client';

/** One open feed: a gRPC WatchCancellations stream or an HTTP long poll. */
export interface FeedListener {
  cancelled(runId: string): void;
  /** The frontend is shutting down: end the feed (the worker reopens it elsewhere). */
  closed(): void;
}

/**
 * The workers' cancellation feeds open on this frontend, keyed by namespace
 * and worker id. Every frontend hears every "run cancelled" event and pushes
 * it to the feeds of that run's worker it holds (usually none). Nothing is
 * kept for a worker without an open feed: its heartbeat is the fallback.
 */
@Injectable()
export class CancellationFeeds implements BeforeApplicationShutdown {
  private readonly feeds = new Map<string, Set<FeedListener>>();
  private count = 0;

  constructor(
    private readonly workers: WorkersRepository,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    const feeds: Gauge = instrument(registry, METRICS.cancellationFeeds, async (): Promise<void> => {
      feeds.set(this.count);
    });
  }

  /**
   * A feed is opened only for a worker registered in that namespace (an id
   * of another namespace is no more known here than anywhere else). OFFLINE
   * workers must register again: their runs have been handed back already.
   * A DRAINING worker still gets its cancellations.
   */
  async checkWorker(namespace: string, workerId: string): Promise<void> {
    const worker = await this.workers.get(namespace, workerId);
    if (!worker || worker.status === WorkerStatus.OFFLINE) {
      throw BatonError.precondition(
        `worker ${workerId} is ${worker ? 'OFFLINE' : 'not registered'}; register the worker again`,
        ErrorReason.WORKER_REREGISTER,
      );
    }
  }

  /** Adds a feed; returns the function that removes it (idempotent). */
  open(namespace: string, workerId: string, listener: FeedListener): () => void {
    const key = feedKey(namespace, workerId);
    const set = this.feeds.get(key) ?? new Set();
    set.add(listener);
    this.feeds.set(key, set);
    this.count++;
    return () => {
      if (!set.delete(listener)) return;
      this.count--;
      if (set.size === 0 && this.feeds.get(key) === set) this.feeds.delete(key);
    };
  }

  /** HTTP long poll: the ids cancelled for the worker from now on, or none after `waitMs` (or once `signal` aborts). */
  next(namespace: string, workerId: string, waitMs: number, signal: AbortSignal): Promise<string[]> {
    return new Promise((resolve) => {
      const ids: string[] = [];
      let answered = false;
      const done = () => {
        if (answered) return;
        answered = true;
        close();
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve(ids);
      };
      const close = this.open(namespace, workerId, {
        cancelled: (runId) => {
          ids.push(runId);
          // Others cancelled in the same burst still make it into this answer.
          setImmediate(done);
        },
        closed: done,
      });
      const timer = setTimeout(done, waitMs);
      if (signal.aborted) done();
      else signal.addEventListener('abort', done, { once: true });
    });
  }

  deliver(event: RunCancelledEvent): void {
    for (const listener of this.feeds.get(feedKey(event.namespace, event.workerId)) ?? []) {
      listener.cancelled(event.runId);
    }
  }

  /** Ends every feed cleanly before the gRPC server goes, so workers reconnect rather than see a reset. */
  beforeApplicationShutdown(): void {
    for (const set of [...this.feeds.values()]) for (const listener of [...set]) listener.closed();
  }
}

function feedKey(namespace: string, workerId: string): string {
  return `${namespace}\u0000${workerId}`;
}
