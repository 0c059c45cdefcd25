import { ago, duration, fields, preview, table, toJson } from './format';

describe('format', () => {
  test('table pads each column to its widest cell and shows missing values as -', () => {
    expect(
      table(
        ['ID', 'STATUS', 'NOTE'],
        [
          ['a', 'RUNNING', null],
          ['bbbb', 'COMPLETED', 'done'],
        ],
      ).split('\n'),
    ).toEqual(['ID    STATUS     NOTE', 'a     RUNNING    -', 'bbbb  COMPLETED  done']);
  });

  test('fields aligns values and leaves out empty ones', () => {
    expect(
      fields([
        ['Run', 'r1'],
        ['External ID', null],
        ['Status', 'FAILED'],
      ]),
    ).toBe('Run:     r1\nStatus:  FAILED');
  });

  test.each([
    [0, '0ms'],
    [850, '850ms'],
    [1_234, '1.2s'],
    [42_000, '42s'],
    [65_000, '1m 5s'],
    [3_600_000, '1h'],
    [7_500_000, '2h 5m'],
    [90_061_000, '1d 1h'],
  ])('duration(%p) is %p', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });

  test('ago says how long ago, or in how long', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(ago(new Date(now - 90_000), now)).toBe('1m 30s ago');
    expect(ago(new Date(now + 5_000), now)).toBe('in 5.0s');
    expect(ago(new Date(now - 200), now)).toBe('just now');
    expect(ago(null, now)).toBe('-');
  });

  test('toJson shows bytes as base64 and no payload as null', () => {
    expect(toJson({ data: Buffer.from([0, 255]), n: 1 }, 0)).toBe('{"data":{"base64":"AP8="},"n":1}');
    expect(toJson(undefined)).toBe('null');
  });

  test('preview cuts long payloads to one line', () => {
    expect(preview({ a: 'x'.repeat(100) }, 20)).toBe('{"a":"xxxxxxxxxxxxx…');
    expect(preview(undefined)).toBe('-');
  });
});
