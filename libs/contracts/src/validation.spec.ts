import { BatonError, ErrorCode } from './errors';
import { LIMITS } from './limits';
import { uuidv7 } from './uuid';
import { checkInt, checkName, checkOptionalInt, checkOptionalText, checkPayloadSize, checkUuid } from './validation';

function caught(fn: () => unknown): BatonError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    return err as BatonError;
  }
  throw new Error('expected the call to throw');
}

function expectInvalid(fn: () => unknown, field: string): BatonError {
  const err = caught(fn);
  expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
  expect(err.field).toBe(field);
  expect(err.message).toContain(field);
  return err;
}

describe('checkName', () => {
  it('returns a valid name unchanged', () => {
    expect(checkName('orders', 'queue')).toBe('orders');
    expect(checkName('Ünïcödé name.with*chars>', 'queue')).toBe('Ünïcödé name.with*chars>');
  });

  it.each([undefined, null, ''])('rejects the missing value %p', (value) => {
    const err = expectInvalid(() => checkName(value, 'namespace'), 'namespace');
    expect(err.message).toMatch(/required/);
  });

  it.each([42, 0, false, true, {}, ['a'], Symbol('s')])('rejects the non-string %p', (value) => {
    const err = expectInvalid(() => checkName(value, 'workflowType'), 'workflowType');
    expect(err.message).toMatch(/must be a string/);
  });

  it('accepts exactly 255 bytes', () => {
    const name = 'a'.repeat(255);
    expect(checkName(name, 'queue')).toBe(name);
    expect(LIMITS.nameBytes).toBe(255);
  });

  it('rejects 256 bytes, giving limit and size', () => {
    const err = expectInvalid(() => checkName('a'.repeat(256), 'queue'), 'queue');
    expect(err.message).toContain('255');
    expect(err.message).toContain('256');
  });

  it('counts multi-byte characters in UTF-8 bytes, not characters', () => {
    // 'é' is 2 bytes: 127 of them = 254 bytes + 1 = 255 OK; 128 = 256 bytes rejected.
    expect(checkName('é'.repeat(127) + 'a', 'queue')).toHaveLength(128);
    expectInvalid(() => checkName('é'.repeat(128), 'queue'), 'queue');
    // '€' is 3 bytes: 85 = 255 OK, 86 = 258 rejected although only 86 characters.
    expect(() => checkName('€'.repeat(85), 'queue')).not.toThrow();
    expectInvalid(() => checkName('€'.repeat(86), 'queue'), 'queue');
    // '🚀' is 4 bytes (2 UTF-16 units): 63 = 252 OK, 64 = 256 rejected.
    expect(() => checkName('🚀'.repeat(63), 'queue')).not.toThrow();
    const err = expectInvalid(() => checkName('🚀'.repeat(64), 'queue'), 'queue');
    expect(err.message).toContain('256');
  });

  it('honours a custom byte limit', () => {
    expect(checkName('abcd', 'stepId', 4)).toBe('abcd');
    expectInvalid(() => checkName('abcde', 'stepId', 4), 'stepId');
  });

  it('rejects NUL characters', () => {
    const err = expectInvalid(() => checkName('a\u0000b', 'queue'), 'queue');
    expect(err.message).toMatch(/NUL/);
  });
});

describe('checkOptionalText', () => {
  it.each([undefined, null, ''])('treats %p as none', (value) => {
    expect(checkOptionalText(value, 'externalId', LIMITS.externalIdBytes)).toBeNull();
  });

  it('returns present text and checks it like a name', () => {
    expect(checkOptionalText('order-42', 'externalId', 255)).toBe('order-42');
    expectInvalid(() => checkOptionalText('x'.repeat(256), 'externalId', 255), 'externalId');
    expectInvalid(() => checkOptionalText(7, 'externalId', 255), 'externalId');
  });
});

describe('checkUuid', () => {
  it('returns a valid UUID', () => {
    const id = uuidv7();
    expect(checkUuid(id, 'runId')).toBe(id);
  });

  it('lowercases an uppercase UUID', () => {
    expect(checkUuid('F47AC10B-58CC-4372-A567-0E02B2C3D479', 'runId')).toBe('f47ac10b-58cc-4372-a567-0e02b2c3d479');
  });

  it.each(['', 'nope', '123', 42, null, undefined, {}])('rejects %p, naming the field', (value) => {
    const err = expectInvalid(() => checkUuid(value, 'runId'), 'runId');
    expect(err.message).toMatch(/must be a UUID/);
  });

  it('quotes the bad value', () => {
    expect(caught(() => checkUuid('nope', 'runId')).message).toContain('"nope"');
    expect(caught(() => checkUuid(undefined, 'runId')).message).toContain('null');
  });
});

describe('checkPayloadSize', () => {
  it('accepts sizes up to and including the limit', () => {
    expect(() => checkPayloadSize(0, 'input')).not.toThrow();
    expect(() => checkPayloadSize(LIMITS.payloadBytes, 'input')).not.toThrow();
    expect(LIMITS.payloadBytes).toBe(2_097_152);
  });

  it('rejects limit + 1 with PAYLOAD_TOO_LARGE and the field', () => {
    const err = caught(() => checkPayloadSize(LIMITS.payloadBytes + 1, 'input'));
    expect(err.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
    expect(err.field).toBe('input');
    expect(err.toJSON()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', field: 'input' });
    expect(err.message).toContain(String(LIMITS.payloadBytes + 1));
    expect(err.message).toContain(String(LIMITS.payloadBytes));
  });

  it('honours a custom limit', () => {
    expect(() => checkPayloadSize(1024, 'output', 1024)).not.toThrow();
    const err = caught(() => checkPayloadSize(1025, 'output', 1024));
    expect(err.code).toBe(ErrorCode.PAYLOAD_TOO_LARGE);
    expect(err.field).toBe('output');
  });
});

describe('checkInt / checkOptionalInt', () => {
  it('accepts integers within the inclusive range', () => {
    expect(checkInt(1, 'maxAttempts', 1, 1000)).toBe(1);
    expect(checkInt(1000, 'maxAttempts', 1, 1000)).toBe(1000);
  });

  it.each([0, 1001, -1])('rejects %p outside the range', (value) => {
    const err = expectInvalid(() => checkInt(value, 'maxAttempts', 1, 1000), 'maxAttempts');
    expect(err.message).toContain(String(value));
  });

  it.each([1.5, NaN, Infinity, '5', null, undefined])('rejects the non-integer %p', (value) => {
    expectInvalid(() => checkInt(value, 'pageSize', 1, 100), 'pageSize');
  });

  it('treats undefined and null as absent in checkOptionalInt', () => {
    expect(checkOptionalInt(undefined, 'pageSize', 1, 100)).toBeUndefined();
    expect(checkOptionalInt(null, 'pageSize', 1, 100)).toBeUndefined();
    expect(checkOptionalInt(50, 'pageSize', 1, 100)).toBe(50);
    expectInvalid(() => checkOptionalInt(101, 'pageSize', 1, 100), 'pageSize');
  });
});
