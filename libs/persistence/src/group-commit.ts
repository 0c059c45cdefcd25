import { isDatabaseOutage } from './sql';

export interface GroupCommitOptions<I, R> {
  /**
   * Applies the items as one statement (one commit) and resolves to one
   * result per item, in order. Called with a single item when nothing else
   * waits, and for each item of a failed batch on its own: for one item it
   * should run the single-row statement, which needs no arrays.
   */
  run(items: I[]): Promise<R[]>;
  /** Most items in one batch. */
  maxItems: number;
  /** An item's payload bytes; a batch of several items stays within maxBytes. */
  bytes?(item: I): number;
  maxBytes?: number;
  /**
   * Whether the items of a batch that failed as a whole are tried again each
   * on its own. Default: unless the database is unavailable (its outage fails
   * each item with UNAVAILABLE, as a single statement would, and a commit
   * whose reply was lost is not applied a second time).
   */
  retryAlone?(err: unknown): boolean;
}

interface Waiting<I, R> {
  item: I;
  resolve(result: R): void;
  reject(err: unknown): void;
}

const notAnOutage = (err: unknown) => !isDatabaseOutage(err);

/**
 * Group commit: concurrent callers' items share one statement and one commit.
 * An item submitted while nothing is in flight runs at the end of the current
 * turn of microtasks (no added latency when idle), together with any
 * submitted in the same turn; items submitted while a batch is in flight wait
 * for it and go together as the next batch. One bad item cannot fail the others: a batch
 * that fails as a whole is tried again item by item.
 */
export class GroupCommit<I, R> {
  private readonly waiting: Array<Waiting<I, R>> = [];
  private inFlight = false;
  private scheduled = false;

  constructor(private readonly options: GroupCommitOptions<I, R>) {}

  /** Resolves with this item's result, or rejects with the error its own statement met. */
  submit(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.inFlight || this.scheduled) return;
      // At the end of this turn of microtasks: the items of one call that carries several (StartMany, a
      // worker's Batch) are submitted in one synchronous loop and so go as one batch.
      this.scheduled = true;
      queueMicrotask(() => {
        this.scheduled = false;
        void this.drain();
      });
    });
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    try {
      while (this.waiting.length > 0) await this.apply(this.nextBatch());
    } finally {
      this.inFlight = false;
    }
  }

  /** The oldest waiting items, up to maxItems and (beyond the first) maxBytes. */
  private nextBatch(): Array<Waiting<I, R>> {
    const { maxItems, bytes, maxBytes = Infinity } = this.options;
    let size = 0;
    let count = 0;
    while (count < Math.min(maxItems, this.waiting.length)) {
      const itemBytes = bytes?.(this.waiting[count]!.item) ?? 0;
      if (count > 0 && size + itemBytes > maxBytes) break;
      size += itemBytes;
      count++;
    }
    return this.waiting.splice(0, Math.max(count, 1));
  }

  private async apply(batch: Array<Waiting<I, R>>): Promise<void> {
    let results: R[];
    try {
      results = await this.options.run(batch.map((w) => w.item));
      if (results.length !== batch.length) {
        throw new Error(`group commit: ${results.length} results for ${batch.length} items`);
      }
    } catch (err) {
      const retryAlone = this.options.retryAlone ?? notAnOutage;
      if (batch.length === 1 || !retryAlone(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      await Promise.all(batch.map((w) => this.apply([w])));
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }
}
