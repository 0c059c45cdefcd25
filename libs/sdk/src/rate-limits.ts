import { parseDuration } from '@baton/contracts';
import type { Duration } from '@baton/contracts';
import type { RateLimit as RateLimitMessage } from '@baton/proto';
import { checkOptions, sendChecked } from './schedules';
import type { Transport } from './transport';

/** What a rate limit applies to: every run of one queue, or every run of one workflow type (on any queue). */
export type RateLimitTarget = { queue: string; workflowType?: never } | { workflowType: string; queue?: never };

/** A rate limit to set: at most `limit` runs of the target start work in any window of `period`. */
export type RateLimitOptions = RateLimitTarget & {
  /** Most claims (starts of work, retries and recoveries included) in any window of `period`: 1 to 1,000. */
  limit: number;
  /** The window: milliseconds or a duration such as `'2s'`, from 100 ms to one day. */
  period: Duration;
};

/** A rate limit as the server holds it. */
export interface RateLimit {
  /** The namespace it belongs to. */
  namespace: string;
  /** Set when the limit applies to a queue. */
  queue: string | null;
  /** Set when the limit applies to a workflow type. */
  workflowType: string | null;
  /** Most claims in any window of `periodMs`. */
  limit: number;
  /** The window, in milliseconds. */
  periodMs: number;
  /** When it was first set. */
  createdAt: Date;
  /** When it was last set. */
  updatedAt: Date;
}

const SET_OPTIONS: ReadonlyArray<keyof RateLimitOptions> = ['queue', 'workflowType', 'limit', 'period'];
const TARGET_OPTIONS: ReadonlyArray<keyof RateLimitTarget> = ['queue', 'workflowType'];

function rateLimitFromWire(m: RateLimitMessage): RateLimit {
  return {
    namespace: m.namespace ?? '',
    queue: m.queue || null,
    workflowType: m.workflowType || null,
    limit: m.limit ?? 0,
    periodMs: m.periodMs ?? 0,
    createdAt: new Date(m.createdAtMs ?? 0),
    updatedAt: new Date(m.updatedAtMs ?? 0),
  };
}

/**
 * Rate limits of this namespace (an admin key): the claim that hands a run to
 * a worker enforces them, across all workers and servers. Runs held back wait
 * PENDING and start as the window frees room.
 *
 * ```ts
 * await client.rateLimits.set({ queue: 'emails', limit: 100, period: '1m' });
 * await client.rateLimits.delete({ queue: 'emails' });
 * ```
 */
export class RateLimits {
  /** Made by the client: use `client.rateLimits`. */
  constructor(
    private readonly transport: Transport,
    private readonly namespace: string,
  ) {}

  /**
   * Creates or replaces the limit of a queue or a workflow type (exactly one of the two).
   *
   * @throws {@link BatonError} INVALID_ARGUMENT naming the field: an unknown option, both or
   *   neither target, a limit or period out of range.
   * @throws {@link BatonError} PERMISSION_DENIED without an admin key.
   */
  async set(options: RateLimitOptions): Promise<RateLimit> {
    checkOptions(options, SET_OPTIONS, 'options');
    const res = await sendChecked(this.transport, 'admin', 'SetRateLimit', {
      namespace: this.namespace,
      queue: options.queue ?? '',
      workflowType: options.workflowType ?? '',
      limit: options.limit,
      periodMs: parseDuration(options.period, 'period'),
    });
    return rateLimitFromWire(res);
  }

  /**
   * Every rate limit of the namespace: queues first, then workflow types, each by name.
   *
   * @throws {@link BatonError} PERMISSION_DENIED without an admin key.
   */
  async list(): Promise<RateLimit[]> {
    const res = await sendChecked(this.transport, 'admin', 'ListRateLimits', { namespace: this.namespace });
    return (res.rateLimits ?? []).map(rateLimitFromWire);
  }

  /**
   * Removes the limit of a queue or a workflow type.
   *
   * @throws {@link BatonError} NOT_FOUND when the target has no limit; PERMISSION_DENIED without an admin key.
   */
  async delete(target: RateLimitTarget): Promise<void> {
    checkOptions(target, TARGET_OPTIONS, 'target');
    await sendChecked(this.transport, 'admin', 'DeleteRateLimit', {
      namespace: this.namespace,
      queue: target.queue ?? '',
      workflowType: target.workflowType ?? '',
    });
  }
}
