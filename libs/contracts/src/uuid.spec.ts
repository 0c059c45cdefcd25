import { isUuid, uuidv7 } from './uuid';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function timestampOf(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

describe('uuidv7', () => {
  it('has the canonical lowercase 8-4-4-4-12 format', () => {
    const id = uuidv7();
    expect(id).toHaveLength(36);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('sets version 7 and the RFC 9562 variant', () => {
    for (let i = 0; i < 200; i++) {
      const id = uuidv7();
      expect(id[14]).toBe('7');
      expect(['8', '9', 'a', 'b']).toContain(id[19]);
      expect(id).toMatch(V7);
    }
  });

  it('keeps version and variant for extreme timestamps', () => {
    expect(uuidv7(0)).toMatch(V7);
    expect(uuidv7(2 ** 48 - 1)).toMatch(V7);
    expect(uuidv7(0).startsWith('00000000-0000-7')).toBe(true);
    expect(uuidv7(2 ** 48 - 1).startsWith('ffffffff-ffff-7')).toBe(true);
  });

  it('encodes the millisecond timestamp in the first 48 bits', () => {
    const now = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    expect(timestampOf(uuidv7(now))).toBe(now);
  });

  it('defaults to the current time', () => {
    const before = Date.now();
    const id = uuidv7();
    const after = Date.now();
    expect(timestampOf(id)).toBeGreaterThanOrEqual(before);
    expect(timestampOf(id)).toBeLessThanOrEqual(after);
  });

  it('sorts by creation time for increasing timestamps', () => {
    const base = Date.UTC(2026, 5, 1);
    const ids = [0, 1, 2, 10, 999, 1000, 60_000, 86_400_000, 2 ** 32].map((d) => uuidv7(base + d));
    expect([...ids].sort()).toEqual(ids);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
  });

  it('sorts across a hex-digit carry', () => {
    expect(uuidv7(0x0fff_ffff_ffff) < uuidv7(0x1000_0000_0000)).toBe(true);
  });

  it('is unique for the same millisecond', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 1000 }, () => uuidv7(now)));
    expect(ids.size).toBe(1000);
  });
});

describe('isUuid', () => {
  it('accepts generated ids', () => {
    expect(isUuid(uuidv7())).toBe(true);
  });

  it.each([
    '00000000-0000-0000-0000-000000000000',
    '123e4567-e89b-12d3-a456-426614174000',
    'F47AC10B-58CC-4372-A567-0E02B2C3D479',
  ])('accepts %p', (value) => {
    expect(isUuid(value)).toBe(true);
  });

  it.each([
    '',
    'not-a-uuid',
    '123e4567e89b12d3a456426614174000',
    '123e4567-e89b-12d3-a456-42661417400',
    '123e4567-e89b-12d3-a456-4266141740000',
    '{123e4567-e89b-12d3-a456-426614174000}',
    ' 123e4567-e89b-12d3-a456-426614174000',
    '123e4567-e89b-12d3-a456-426614174000\n',
    'g23e4567-e89b-12d3-a456-426614174000',
  ])('rejects the string %p', (value) => {
    expect(isUuid(value)).toBe(false);
  });

  it.each([undefined, null, 42, {}, [], Buffer.alloc(16)])('rejects the non-string %p', (value) => {
    expect(isUuid(value)).toBe(false);
  });
});
