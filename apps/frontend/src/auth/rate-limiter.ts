import { Inject, Injectable } from '@nestjs/common';
import { BatonError, ErrorCode } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { BATON_CONFIG } from '@baton/runtime';

interface Bucket {
  tokens: number;
  refilledAt: number;
}

/**
 * A token bucket per key on this frontend: `rateLimitPerSecond` sustained,
 * `rateLimitBurst` at once. One noisy key is slowed; the others are not.
 */
@Injectable()
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(@Inject(BATON_CONFIG) private readonly config: BatonConfig) {}

  /** Spends one call of `keyId`'s budget, or throws RESOURCE_EXHAUSTED saying when to try again. */
  take(keyId: string, now = performance.now()): void {
    const { rateLimitPerSecond: rate, rateLimitBurst: burst } = this.config;
    let bucket = this.buckets.get(keyId);
    if (!bucket) {
      bucket = { tokens: burst, refilledAt: now };
      this.buckets.set(keyId, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) * rate) / 1000);
    bucket.refilledAt = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfterMs = Math.ceil(((1 - bucket.tokens) * 1000) / rate);
    throw new BatonError(
      ErrorCode.RESOURCE_EXHAUSTED,
      `rate limit of ${rate} calls per second (bursts of ${burst}) exceeded for this API key; retry in ${retryAfterMs} ms`,
      { retryAfterMs },
    );
  }

  /** A revoked key's bucket goes with it. */
  forget(keyId: string): void {
    this.buckets.delete(keyId);
  }
}
