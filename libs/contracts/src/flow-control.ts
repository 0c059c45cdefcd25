/**
 * Flow control (run priority, concurrency keys, rate limits): the limits of
 * what a start or an admin may ask for. Enforced by the claim statement
 * (libs/persistence transitions/flow-control.ts), validated at the edge.
 */
export const FLOW_CONTROL = Object.freeze({
  /** A run's priority: higher is claimed first, FIFO within one priority. Runs start at 0. */
  priority: Object.freeze({ min: -100, max: 100, default: 0 }),
  /** A concurrency key's limit: at most this many RUNNING runs of the key (per namespace). */
  concurrencyLimit: Object.freeze({ min: 1, max: 10_000 }),
  /**
   * A rate limit's claims per period. Each claim under it rewrites the times
   * of the last `max` claims (8 bytes each), so the cap keeps that row small.
   */
  rateLimit: Object.freeze({ min: 1, max: 1_000 }),
  /** A rate limit's period: from 100 ms to one day. */
  ratePeriodMs: Object.freeze({ min: 100, max: 24 * 60 * 60 * 1000 }),
});

/** What a rate limit applies to: every run of one queue, or of one workflow type (on any queue). */
export const RateLimitScope = { QUEUE: 'queue', WORKFLOW_TYPE: 'workflow_type' } as const;
export type RateLimitScope = (typeof RateLimitScope)[keyof typeof RateLimitScope];

/** At most `limit` RUNNING runs holding `key` at once, across all workers of the namespace. */
export interface ConcurrencyOption {
  key: string;
  limit: number;
}

/** A rate limit as the admin API shows it. */
export interface RateLimitView {
  namespace: string;
  scope: RateLimitScope;
  /** The queue or the workflow type. */
  name: string;
  /** Most claims (starts of work) in any window of `periodMs`. */
  limit: number;
  periodMs: number;
  createdAt: Date;
  updatedAt: Date;
}
