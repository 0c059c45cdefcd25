import {
  backoffDelayMs,
  decideRetry,
  DEFAULT_RETRY_POLICY,
  resolveRetryPolicy,
  type ResolvedRetryPolicy,
} from './retry';
import { LIMITS } from './limits';

describe('DEFAULT_RETRY_POLICY', () => {
  it('is 3 attempts, 1 s initial interval, x2 backoff, 60 s cap, no non-retryable types', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maxAttempts: 3,
      initialIntervalMs: 1000,
      backoffCoefficient: 2,
      maxIntervalMs: 60_000,
      nonRetryableErrors: [],
    });
  });

  it('is frozen', () => {
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
  });
});

describe('resolveRetryPolicy', () => {
  it.each([undefined, null, {}])('gives the defaults for %p', (policy) => {
    expect(resolveRetryPolicy(policy)).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('keeps every field that is set', () => {
    const policy = {
      maxAttempts: 7,
      initialIntervalMs: 250,
      backoffCoefficient: 1.5,
      maxIntervalMs: 10_000,
      nonRetryableErrors: ['ValidationError'],
    };
    expect(resolveRetryPolicy(policy)).toEqual(policy);
  });

  it('fills only the unset fields from the defaults', () => {
    expect(resolveRetryPolicy({ maxAttempts: 10 })).toEqual({ ...DEFAULT_RETRY_POLICY, maxAttempts: 10 });
    expect(resolveRetryPolicy({ maxIntervalMs: 5000 })).toEqual({ ...DEFAULT_RETRY_POLICY, maxIntervalMs: 5000 });
  });

  it('lets a step policy fall back to the run policy, not the defaults', () => {
    const run = resolveRetryPolicy({ maxAttempts: 5, initialIntervalMs: 200, nonRetryableErrors: ['Fatal'] });
    const step = resolveRetryPolicy({ backoffCoefficient: 3 }, run);
    expect(step).toEqual({
      maxAttempts: 5,
      initialIntervalMs: 200,
      backoffCoefficient: 3,
      maxIntervalMs: 60_000,
      nonRetryableErrors: ['Fatal'],
    });
  });

  it('uses the run policy whole for a step without its own policy', () => {
    const run = resolveRetryPolicy({ maxAttempts: 9, maxIntervalMs: 2000 });
    expect(resolveRetryPolicy(undefined, run)).toEqual(run);
    expect(resolveRetryPolicy(null, run)).toEqual(run);
  });

  it('treats maxAttempts: 1 as "no retry", distinct from unset', () => {
    const once = resolveRetryPolicy({ maxAttempts: 1 }, resolveRetryPolicy({ maxAttempts: 5 }));
    expect(once.maxAttempts).toBe(1);
    expect(decideRetry(once, 1, {})).toEqual({ retry: false, reason: expect.stringContaining('exhausted') });

    const unset = resolveRetryPolicy({}, resolveRetryPolicy({ maxAttempts: 5 }));
    expect(unset.maxAttempts).toBe(5);
    expect(decideRetry(unset, 1, {}).retry).toBe(true);
  });

  it('keeps falsy but set values (0 interval, empty list) instead of falling back', () => {
    const fallback = resolveRetryPolicy({ nonRetryableErrors: ['X'] });
    const p = resolveRetryPolicy({ initialIntervalMs: 0, nonRetryableErrors: [] }, fallback);
    expect(p.initialIntervalMs).toBe(0);
    expect(p.nonRetryableErrors).toEqual([]);
  });
});

describe('backoffDelayMs', () => {
  const policy = resolveRetryPolicy({});

  it('doubles from 1 s after each failed attempt', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(policy, a))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000]);
  });

  it('caps the delay at maxIntervalMs', () => {
    expect(backoffDelayMs(policy, 7)).toBe(60_000); // 64 s uncapped
    expect(backoffDelayMs(policy, 20)).toBe(60_000);
    expect(backoffDelayMs(policy, LIMITS.maxAttempts)).toBe(60_000);
  });

  it('treats attempt 0 or below like attempt 1', () => {
    expect(backoffDelayMs(policy, 0)).toBe(1000);
    expect(backoffDelayMs(policy, -3)).toBe(1000);
  });

  it('follows a custom coefficient and rounds to whole milliseconds', () => {
    const p: ResolvedRetryPolicy = resolveRetryPolicy({
      initialIntervalMs: 100,
      backoffCoefficient: 1.5,
      maxIntervalMs: 1000,
    });
    expect([1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelayMs(p, a))).toEqual([100, 150, 225, 338, 506, 759, 1000]);
  });

  it('is constant with coefficient 1', () => {
    const p = resolveRetryPolicy({ initialIntervalMs: 500, backoffCoefficient: 1 });
    expect([1, 2, 10].map((a) => backoffDelayMs(p, a))).toEqual([500, 500, 500]);
  });
});

describe('decideRetry', () => {
  const policy = resolveRetryPolicy({});

  it('retries before the attempts run out, with the backoff delay', () => {
    expect(decideRetry(policy, 1, {})).toEqual({ retry: true, delayMs: 1000 });
    expect(decideRetry(policy, 2, { errorType: 'Error' })).toEqual({ retry: true, delayMs: 2000 });
  });

  it('stops once the attempt number reaches maxAttempts', () => {
    const d = decideRetry(policy, 3, {});
    expect(d.retry).toBe(false);
    if (!d.retry) expect(d.reason).toBe('attempts exhausted (3 of 3)');
    expect(decideRetry(policy, 4, {}).retry).toBe(false);
  });

  it('never retries a failure flagged nonRetryable, even with attempts left', () => {
    expect(decideRetry(policy, 1, { nonRetryable: true })).toEqual({ retry: false, reason: 'non-retryable error' });
  });

  it('retries when nonRetryable is explicitly false', () => {
    expect(decideRetry(policy, 1, { nonRetryable: false }).retry).toBe(true);
  });

  it('never retries an error whose type is listed in nonRetryableErrors', () => {
    const p = resolveRetryPolicy({ maxAttempts: 10, nonRetryableErrors: ['ValidationError', 'AuthError'] });
    expect(decideRetry(p, 1, { errorType: 'ValidationError' })).toEqual({
      retry: false,
      reason: 'error type ValidationError is non-retryable',
    });
    expect(decideRetry(p, 1, { errorType: 'AuthError' }).retry).toBe(false);
  });

  it('matches error types exactly (case-sensitive, no substrings)', () => {
    const p = resolveRetryPolicy({ nonRetryableErrors: ['ValidationError'] });
    expect(decideRetry(p, 1, { errorType: 'validationerror' }).retry).toBe(true);
    expect(decideRetry(p, 1, { errorType: 'Validation' }).retry).toBe(true);
    expect(decideRetry(p, 1, { errorType: 'TypeError' }).retry).toBe(true);
    expect(decideRetry(p, 1, { errorType: null }).retry).toBe(true);
    expect(decideRetry(p, 1, {}).retry).toBe(true);
  });

  it('inherits nonRetryableErrors from the run policy for a step', () => {
    const run = resolveRetryPolicy({ nonRetryableErrors: ['Fatal'] });
    const step = resolveRetryPolicy({ maxAttempts: 5 }, run);
    expect(decideRetry(step, 1, { errorType: 'Fatal' }).retry).toBe(false);
  });

  it('gives the capped delay late in a long policy', () => {
    const p = resolveRetryPolicy({ maxAttempts: 100 });
    expect(decideRetry(p, 50, {})).toEqual({ retry: true, delayMs: 60_000 });
  });
});
