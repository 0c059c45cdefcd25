import { BatonError, ErrorCode } from '@baton/contracts';
import { toRetryPolicy } from './retry-options';
import type { RetryOptions } from './retry-options';

function refused(options: unknown, field: string): void {
  try {
    toRetryPolicy(options as RetryOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    expect({ code: (err as BatonError).code, field: (err as BatonError).field }).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      field,
    });
    return;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('toRetryPolicy', () => {
  it('unset stays unset (the default policy), distinct from maxAttempts: 1', () => {
    expect(toRetryPolicy(undefined)).toBeUndefined();
    expect(toRetryPolicy({})).toEqual({});
    expect(toRetryPolicy({ maxAttempts: 1 })).toEqual({ maxAttempts: 1 });
  });

  it("takes DESIGN §13's names, as milliseconds or durations", () => {
    expect(toRetryPolicy({ initialInterval: '1s', maxInterval: '1m30s' })).toEqual({
      initialIntervalMs: 1_000,
      maxIntervalMs: 90_000,
    });
    expect(toRetryPolicy({ initialInterval: 250, maxInterval: 5_000, backoffCoefficient: 1.5 })).toEqual({
      initialIntervalMs: 250,
      maxIntervalMs: 5_000,
      backoffCoefficient: 1.5,
    });
  });

  it('keeps accepting the wire names', () => {
    expect(toRetryPolicy({ initialIntervalMs: 100, maxIntervalMs: 900, nonRetryableErrors: ['Fatal'] })).toEqual({
      initialIntervalMs: 100,
      maxIntervalMs: 900,
      nonRetryableErrors: ['Fatal'],
    });
  });

  it('refuses unknown keys, both spellings at once and wrong types, naming the field', () => {
    refused({ initialIntervall: '1s' }, 'retry.initialIntervall');
    refused({ maxIntervalMS: 5 }, 'retry.maxIntervalMS');
    refused({ initialInterval: '1s', initialIntervalMs: 1000 }, 'retry.initialInterval');
    refused({ maxInterval: 'soon' }, 'retry.maxInterval');
    refused({ initialIntervalMs: '1s' }, 'retry.initialIntervalMs');
    refused({ maxAttempts: '3' }, 'retry.maxAttempts');
    refused({ nonRetryableErrors: 'Fatal' }, 'retry.nonRetryableErrors');
    refused('always', 'retry');
    refused([1], 'retry');
  });

  it('leaves ranges to the server, which names the same field', () => {
    expect(toRetryPolicy({ initialIntervalMs: -100 })).toEqual({ initialIntervalMs: -100 });
  });
});
