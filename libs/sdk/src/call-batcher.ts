import { BatonError, ErrorCode, SDK_DEFAULTS } from '@baton/contracts';
import type { ErrorReason } from '@baton/contracts';
import type { CallError } from '@baton/proto';
import type { CallOptions } from './transport';

/** One item's outcome in a batch call's answer: the lone call's reply, or the error it would have met. */
export type ItemOutcome<R> = { ok: R } | { error: CallError };

/** How a kind of call travels: alone, or several in one call. */
export interface BatchRoute<Q, R> {
  /** One item as its own call. */
  one(item: Q, options: CallOptions): Promise<R>;
  /** Several items in one call: one outcome per item, in order (undefined: none came back). */
  many(items: Q[], options: CallOptions): Promise<Array<ItemOutcome<R> | undefined>>;
  /** An item's payload bytes, for the batch's byte budget. */
  bytes(item: Q): number;
}

export interface BatchLimits {
  maxItems: number;
  /** A batch of several items holds at most this many payload bytes. */
  maxBytes: number;
}

interface Waiting<Q, R> {
  item: Q;
  options: CallOptions;
  settled: boolean;
  resolve(reply: R): void;
  reject(err: unknown): void;
}

/** The error one item of a batch met, as the lone call would have thrown it. */
export function fromCallError(error: CallError): BatonError {
  const code = (error.code || ErrorCode.INTERNAL) as ErrorCode;
  return new BatonError(code, error.message || 'call failed', {
    ...(error.field ? { field: error.field } : {}),
    ...(error.reason ? { reason: error.reason as ErrorReason } : {}),
  });
}

const aborted = () => new BatonError(ErrorCode.UNAVAILABLE, 'call aborted');

/**
 * Group commit on the client's side: a call made while none of this
 * batcher's is in flight goes at once, alone (`route.one`: no added latency
 * for one caller); the calls made while one is in flight, or in the turn of
 * the event loop it returns in, go together as one call (`route.many`),
 * where each item succeeds or fails on its own with what its lone call would
 * have answered. A burst of
 * concurrent calls so costs a few calls instead of one each, on the client,
 * on the network and on the server. A server without the batch method
 * (UNIMPLEMENTED) gets one call per item from then on.
 *
 * An item's options hold: its signal rejects it at once (the batch goes on
 * without it, as a lone call whose reply is lost would), and the batch call's
 * deadline is the shortest of its items'.
 */
export class CallBatcher<Q, R> {
  private readonly waiting: Array<Waiting<Q, R>> = [];
  /** A drain is scheduled or sending. */
  private busy = false;
  private lonely = false;

  constructor(
    private readonly route: BatchRoute<Q, R>,
    private readonly limits: BatchLimits,
  ) {}

  send(item: Q, options: CallOptions = {}): Promise<R> {
    if (this.lonely) return this.route.one(item, options);
    if (options.signal?.aborted) return Promise.reject(aborted());
    return new Promise<R>((resolve, reject) => {
      const waiting: Waiting<Q, R> = { item, options, settled: false, resolve, reject };
      const settle = (finish: () => void) => {
        if (waiting.settled) return;
        waiting.settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        finish();
      };
      const onAbort = () => settle(() => reject(aborted()));
      waiting.resolve = (reply) => settle(() => resolve(reply));
      waiting.reject = (err) => settle(() => reject(err));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiting);
      if (!this.busy) void this.drain();
    });
  }

  /**
   * Sends what waits, one call at a time, starting at once. After each call
   * it waits for the end of the event loop's turn (setImmediate): callers
   * that call again as soon as their call returns (a loop, a pool) do so in
   * microtasks of that turn, and so join the next call instead of trailing it
   * alone.
   */
  private async drain(): Promise<void> {
    this.busy = true;
    try {
      for (;;) {
        const batch = this.nextBatch();
        if (batch.length === 0) break;
        await this.sendBatch(batch);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.busy = false;
    }
  }

  /** The oldest waiting items still wanted, up to maxItems and (beyond the first) the byte budget. */
  private nextBatch(): Array<Waiting<Q, R>> {
    const batch: Array<Waiting<Q, R>> = [];
    let bytes = 0;
    while (this.waiting.length > 0 && batch.length < this.limits.maxItems) {
      const next = this.waiting[0]!;
      if (next.settled) {
        this.waiting.shift();
        continue;
      }
      const size = this.route.bytes(next.item);
      if (batch.length > 0 && bytes + size > this.limits.maxBytes) break;
      bytes += size;
      batch.push(this.waiting.shift()!);
    }
    return batch;
  }

  private async sendBatch(batch: Array<Waiting<Q, R>>): Promise<void> {
    const options: CallOptions = {
      timeoutMs: Math.min(...batch.map((w) => w.options.timeoutMs ?? SDK_DEFAULTS.callTimeoutMs)),
    };
    if (batch.length === 1 || this.lonely) {
      await Promise.all(
        batch.map((w) => this.route.one(w.item, { ...options, ...w.options }).then(w.resolve, w.reject)),
      );
      return;
    }
    let outcomes: Array<ItemOutcome<R> | undefined>;
    try {
      outcomes = await this.route.many(
        batch.map((w) => w.item),
        options,
      );
    } catch (err) {
      if (err instanceof BatonError && err.code === ErrorCode.UNIMPLEMENTED) {
        this.lonely = true;
        return this.sendBatch(batch);
      }
      // The call as a whole failed (the server was unreachable, the deadline passed): so did each item in it.
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if (outcome && 'ok' in outcome) w.resolve(outcome.ok);
      else if (outcome) w.reject(fromCallError(outcome.error));
      else {
        w.reject(
          new BatonError(
            ErrorCode.INTERNAL,
            `a batch call answered ${outcomes.length} outcomes for ${batch.length} items`,
          ),
        );
      }
    });
  }
}
