import { RepeatLimitedLogger } from './repeat-limited-logger';

describe('RepeatLimitedLogger', () => {
  let now: number;
  let lines: string[];
  let limited: RepeatLimitedLogger;

  beforeEach(() => {
    now = 1_000_000;
    lines = [];
    const sink = { error: (m: string) => lines.push(`error ${m}`), warn: (m: string) => lines.push(`warn ${m}`) };
    limited = new RepeatLimitedLogger(sink, 5_000, () => now);
  });

  it('writes a message once per window, then says how many were held back', () => {
    for (let i = 0; i < 30; i++) {
      limited.error('claim round failed: database unavailable');
      now += 200;
    }
    // 30 failures over 6 s: the first, and one more once 5 s had passed.
    expect(lines).toEqual([
      'error claim round failed: database unavailable',
      'error claim round failed: database unavailable (repeated 24 times in 5 s)',
    ]);
  });

  it('writes a message that recurs after its window plainly when nothing was held back', () => {
    limited.error('x failed');
    now += 5_000;
    limited.error('x failed');
    expect(lines).toEqual(['error x failed', 'error x failed']);
  });

  it('keeps messages and levels apart', () => {
    limited.error('a failed');
    limited.error('b failed');
    limited.warn('a failed');
    limited.error('a failed');
    expect(lines).toEqual(['error a failed', 'error b failed', 'warn a failed']);
  });

  it('remembers a bounded number of messages', () => {
    for (let i = 0; i < 1_000; i++) {
      limited.error(`queue ${i} failed`);
      now += 10;
    }
    const windows = (limited as unknown as { windows: Map<string, unknown> }).windows;
    expect(windows.size).toBeLessThanOrEqual(100);
    // The latest are still held back.
    limited.error('queue 999 failed');
    expect(lines).toHaveLength(1_000);
  });
});
