/** What matching needs to know about a polling worker, read from its row. */
export interface PollableWorker {
  namespace: string;
  queue: string;
  maxConcurrent: number;
}

/**
 * What requirePollable said about each worker, so a poll does not read the
 * worker's row every time. Only an optimisation: the claim statement checks
 * ONLINE and the limits again on the newest row. An entry is dropped when an
 * event says the worker changed (deregistered, draining, OFFLINE,
 * re-registered) and in any case after `ttlMs`, which bounds how long a lost
 * event can hide that change (its polls then wait and come back empty rather
 * than being refused).
 */
export class PollableWorkers {
  private readonly entries = new Map<string, PollableWorker & { until: number }>();
  /** Bumped by every change: a read that started before one may be stale and is not kept. */
  private changes = 0;

  constructor(
    private readonly ttlMs: number,
    /** Reads the row; throws (FAILED_PRECONDITION) unless the worker may poll this namespace and queue. */
    private readonly load: (workerId: string, namespace: string, queue: string) => Promise<PollableWorker>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The worker's max_concurrent if it may poll (namespace, queue); throws like `load` otherwise. */
  async require(workerId: string, namespace: string, queue: string): Promise<number> {
    const hit = this.entries.get(workerId);
    if (hit && hit.until > this.now() && hit.namespace === namespace && hit.queue === queue) return hit.maxConcurrent;
    const changes = this.changes;
    let worker: PollableWorker;
    try {
      worker = await this.load(workerId, namespace, queue);
    } catch (err) {
      this.entries.delete(workerId);
      throw err;
    }
    if (changes === this.changes) this.entries.set(workerId, { ...worker, until: this.now() + this.ttlMs });
    return worker.maxConcurrent;
  }

  /** The worker changed: its next poll reads the row again. */
  changed(workerId: string): void {
    this.changes++;
    this.entries.delete(workerId);
  }

  /** Drops expired entries (workers that stopped polling). */
  prune(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) if (entry.until <= now) this.entries.delete(id);
  }
}
