/** A retry policy as users give it; every field optional ("unset" means the default). */
export interface RetryPolicy {
  /** Most attempts, the first included (1: no retry). */
  maxAttempts?: number;
  /** Wait before the first retry, in milliseconds. */
  initialIntervalMs?: number;
  /** Each wait is the previous one times this. */
  backoffCoefficient?: number;
  /** Longest wait between attempts, in milliseconds. */
  maxIntervalMs?: number;
  /** Error types that fail at once, without retry. */
  nonRetryableErrors?: string[];
}

export type ResolvedRetryPolicy = Required<RetryPolicy>;

/**
 * Every key a retry policy may be given with, at the HTTP edge and in the SDK:
 * DESIGN §13's names (`initialInterval`, `maxInterval`, ms or a duration) and
 * the explicit `…Ms` ones. Anything else is refused.
 */
export const RETRY_OPTION_KEYS = [
  'maxAttempts',
  'initialInterval',
  'initialIntervalMs',
  'backoffCoefficient',
  'maxInterval',
  'maxIntervalMs',
  'nonRetryableErrors',
] as const;

/** Bounds of a caller's retry policy (maxAttempts is LIMITS.maxAttempts). */
export const RETRY_LIMITS = Object.freeze({
  /** Longest initial or maximum interval: a day. */
  maxIntervalMs: 24 * 3_600_000,
  backoffCoefficient: Object.freeze({ min: 1, max: 100 }),
  /** Most error types in nonRetryableErrors. */
  nonRetryableErrors: 100,
});

export const DEFAULT_RETRY_POLICY: ResolvedRetryPolicy = Object.freeze({
  maxAttempts: 3,
  initialIntervalMs: 1000,
  backoffCoefficient: 2,
  maxIntervalMs: 60_000,
  nonRetryableErrors: Object.freeze([]) as unknown as string[],
}) as ResolvedRetryPolicy;

/** Fills unset fields from `fallback` (a step without its own policy uses the run's). */
export function resolveRetryPolicy(
  policy: RetryPolicy | null | undefined,
  fallback: ResolvedRetryPolicy = DEFAULT_RETRY_POLICY,
): ResolvedRetryPolicy {
  return {
    maxAttempts: policy?.maxAttempts ?? fallback.maxAttempts,
    initialIntervalMs: policy?.initialIntervalMs ?? fallback.initialIntervalMs,
    backoffCoefficient: policy?.backoffCoefficient ?? fallback.backoffCoefficient,
    maxIntervalMs: policy?.maxIntervalMs ?? fallback.maxIntervalMs,
    nonRetryableErrors: [...(policy?.nonRetryableErrors ?? fallback.nonRetryableErrors)],
  };
}

/** Delay before the retry that follows failed attempt number `attempt` (1-based). */
export function backoffDelayMs(policy: ResolvedRetryPolicy, attempt: number): number {
  const exponent = Math.max(0, attempt - 1);
  const raw = policy.initialIntervalMs * Math.pow(policy.backoffCoefficient, exponent);
  // 0 × Infinity is NaN: a zero initial interval stays zero however many attempts.
  if (!Number.isFinite(raw)) return policy.initialIntervalMs === 0 ? 0 : policy.maxIntervalMs;
  return Math.round(Math.min(raw, policy.maxIntervalMs));
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

/** Decides whether failed attempt `attempt` is retried; `errorType` matches `nonRetryableErrors`. */
export function decideRetry(
  policy: ResolvedRetryPolicy,
  attempt: number,
  failure: { nonRetryable?: boolean; errorType?: string | null },
): RetryDecision {
  if (failure.nonRetryable) return { retry: false, reason: 'non-retryable error' };
  if (failure.errorType && policy.nonRetryableErrors.includes(failure.errorType)) {
    return { retry: false, reason: `error type ${failure.errorType} is non-retryable` };
  }
  if (attempt >= policy.maxAttempts) {
    return { retry: false, reason: `attempts exhausted (${attempt} of ${policy.maxAttempts})` };
  }
  return { retry: true, delayMs: backoffDelayMs(policy, attempt) };
}
