import { parseBoundedDuration, parseDuration } from './durations';
import { BatonError, ErrorCode } from './errors';
import { LIMITS } from './limits';

function caught(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    return err as BatonError;
  }
  throw new Error('expected the call to throw');
}

describe('parseDuration', () => {
  it('takes numbers as milliseconds', () => {
    expect(parseDuration(0)).toBe(0);
    expect(parseDuration(1500)).toBe(1500);
    expect(parseDuration(-250)).toBe(-250);
  });

  it('rounds fractional numbers to whole milliseconds', () => {
    expect(parseDuration(1.4)).toBe(1);
    expect(parseDuration(1.6)).toBe(2);
  });

  it.each([NaN, Infinity, -Infinity])('rejects the non-finite number %p, naming the field', (value) => {
    const err = caught(() => parseDuration(value, 'timeout'));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.field).toBe('timeout');
    expect(err.message).toContain('timeout');
  });

  it.each([
    ['250ms', 250],
    ['90s', 90_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['30d', 30 * 86_400_000],
    ['1d2h3m4s5ms', 86_400_000 + 2 * 3_600_000 + 3 * 60_000 + 4_000 + 5],
    ['1m30ms', 60_030],
    ['0s', 0],
  ])('parses %p as %p ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('accepts plain numeric text as milliseconds', () => {
    expect(parseDuration('1500')).toBe(1500);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('2.5')).toBe(3);
  });

  it('trims surrounding whitespace', () => {
    expect(parseDuration('  90s \n')).toBe(90_000);
  });

  it.each([
    ['1.5s', 1500],
    ['0.5h', 1_800_000],
    ['2.5ms', 3],
    ['1.25m', 75_000],
  ])('parses the decimal %p as %p ms (rounded)', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('parses negative text to a negative value so the caller can range-check it', () => {
    expect(parseDuration('-90s')).toBe(-90_000);
    expect(parseDuration('-1h30m')).toBe(-5_400_000);
    expect(parseDuration('-250')).toBe(-250);
  });

  it.each(['', '   ', 'soon', '90x', '1h 30m', 's', '1.s', '.5s', '--5s', '5s-', '1e3', '+5s', '5 s', 'h1', '5S'])(
    'rejects the malformed text %p with INVALID_ARGUMENT naming the field',
    (text) => {
      const err = caught(() => parseDuration(text, 'sleepFor'));
      expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.field).toBe('sleepFor');
      expect(err.message).toContain('sleepFor');
      expect(err.message).toContain(text);
    },
  );

  it('uses "duration" as the field when none is given', () => {
    const err = caught(() => parseDuration('later'));
    expect(err.field).toBe('duration');
  });
});

describe('parseBoundedDuration', () => {
  const max = LIMITS.maxSleepMs;

  it('accepts zero', () => {
    expect(parseBoundedDuration(0, 'sleep', max)).toBe(0);
    expect(parseBoundedDuration('0ms', 'sleep', max)).toBe(0);
  });

  it('accepts exactly the maximum (inclusive)', () => {
    expect(parseBoundedDuration(max, 'sleep', max)).toBe(max);
    expect(parseBoundedDuration('30d', 'sleep', max)).toBe(max);
  });

  it('rejects one millisecond above the maximum, naming field and limit', () => {
    const err = caught(() => parseBoundedDuration(max + 1, 'sleep', max));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.field).toBe('sleep');
    expect(err.message).toContain('sleep');
    expect(err.message).toContain(String(max));
    expect(err.message).toContain(String(max + 1));
  });

  it('rejects text above the maximum', () => {
    const err = caught(() => parseBoundedDuration('30d1ms', 'sleep', max));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.message).toContain(String(max));
  });

  it.each([-1, '-1ms', '-5s'])('rejects the negative value %p, naming the field', (value) => {
    const err = caught(() => parseBoundedDuration(value, 'timeout', 1000));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.field).toBe('timeout');
    expect(err.message).toMatch(/timeout must not be negative/);
  });

  it('passes malformed text errors through with the field', () => {
    const err = caught(() => parseBoundedDuration('whenever', 'timeout', 1000));
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.field).toBe('timeout');
  });
});
