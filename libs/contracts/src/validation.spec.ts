import { BatonError, ErrorCode } from './errors';
import { LIMITS } from './limits';
import { uuidv7 } from './uuid';
import {
  checkInt,
  checkJsonBytes,
  checkKnownFields,
  checkName,
  checkObject,
  checkOptionalBoolean,
  checkOptionalInt,
  checkOptionalText,
  checkPayloadSize,
  checkUuid,
  describeValue,
  hasLoneSurrogate,
  jsonTextDepth,
  loneSurrogatePath,
  memberField,
  storableText,
  tooDeepPath,
} from './validation';
import { INPUT_LIMITS } from './validation-limits';

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

describe('text that cannot be stored or sent', () => {
  it.each(['a\ud800b', '\udc00', 'x\ud83d', '\ude00y'])('checkName refuses the lone surrogate in %p', (value) => {
    const err = expectInvalid(() => checkName(value, 'externalId'), 'externalId');
    expect(err.message).toMatch(/lone UTF-16 surrogate/);
  });

  it('checkName keeps a surrogate pair (an emoji) and refuses NUL', () => {
    expect(checkName('run 😀', 'queue')).toBe('run 😀');
    expect(hasLoneSurrogate('😀')).toBe(false);
    expectInvalid(() => checkName('a\u0000b', 'queue'), 'queue');
  });

  it('loneSurrogatePath names the first bad string of a request, skipping bytes', () => {
    expect(loneSurrogatePath({ a: 'ok', b: { c: ['x', 'y\ud800'] } })).toBe('b.c[1]');
    expect(loneSurrogatePath({ input: { data: Buffer.from([0xed, 0xa0, 0x80]) }, name: '😀' })).toBeNull();
  });

  it('storableText escapes NUL and lone surrogates, keeps the rest, cuts long text', () => {
    expect(storableText('a\u0000b')).toBe('a\\u0000b');
    expect(storableText('x\ud800y\udfffz')).toBe('x\\ud800y\\udfffz');
    expect(storableText('fine 😀 text')).toBe('fine 😀 text');
    expect(storableText('abcdef', 4)).toBe('abcd');
    // Never cut between the halves of a pair.
    expect(storableText('ab😀', 3)).toBe('ab');
  });

  it('describeValue quotes text briefly and never walks a structure', () => {
    expect(describeValue('x'.repeat(100))).toBe(`"${'x'.repeat(INPUT_LIMITS.quotedValueChars)}…"`);
    expect(describeValue([[[[1]]]])).toBe('a list');
    expect(describeValue({ a: 1 })).toBe('an object');
    expect(describeValue(undefined)).toBe('null');
  });

  it('memberField puts only short printable ASCII keys in a field name', () => {
    expect(memberField('labels', 'env')).toBe('labels.env');
    expect(memberField('labels', '😀')).toBe('labels');
    expect(memberField('labels', 'a b')).toBe('labels');
    expect(memberField('labels', 'k'.repeat(65))).toBe('labels');
  });
});

describe('shape checks', () => {
  it('checkKnownFields names the first unknown key, with its prefix', () => {
    expect(() => checkKnownFields({ a: 1 }, ['a', 'b'])).not.toThrow();
    expectInvalid(() => checkKnownFields({ a: 1, queueName: 'x' }, ['a']), 'queueName');
    expectInvalid(
      () => checkKnownFields({ initialIntervall: 1 }, ['initialInterval'], 'retry.'),
      'retry.initialIntervall',
    );
  });

  it('checkObject refuses lists, text and numbers', () => {
    expect(checkObject({ a: 1 }, 'labels')).toEqual({ a: 1 });
    for (const v of ['😀', ['x'], 5, true, null]) expectInvalid(() => checkObject(v, 'labels'), 'labels');
  });

  it('checkOptionalBoolean refuses "true"', () => {
    expect(checkOptionalBoolean(undefined, 'paused')).toBe(false);
    expect(checkOptionalBoolean(true, 'paused')).toBe(true);
    for (const v of ['true', 1, 0, {}]) expectInvalid(() => checkOptionalBoolean(v, 'paused'), 'paused');
  });

  it('tooDeepPath finds the top-level key of a too-deep value without recursing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(tooDeepPath({ ok: [[1]], bad: deep }, 512)).toBe('bad');
    expect(tooDeepPath({ ok: [[1]] }, 512)).toBeNull();
    let exact: unknown = 1;
    for (let i = 0; i < 511; i++) exact = [exact];
    // The body is level 1, so a value 511 deep under it is 512 levels: at the limit, accepted.
    expect(tooDeepPath({ v: exact }, 512)).toBeNull();
    expect(tooDeepPath({ v: [exact] }, 512)).toBe('v');
  });

  it('jsonTextDepth counts brackets outside strings', () => {
    expect(jsonTextDepth('[[1],{"a":[2]}]')).toBe(3);
    expect(jsonTextDepth('"[[[[\\"[["')).toBe(0);
    expect(jsonTextDepth('1')).toBe(0);
  });

  it('checkJsonBytes refuses bytes labelled JSON that do not parse, are not UTF-8 or nest too deep', () => {
    expect(() => checkJsonBytes(Buffer.alloc(0), 'input')).not.toThrow();
    expect(() => checkJsonBytes(Buffer.from('{"a":[1,"é"]}'), 'input')).not.toThrow();
    for (const text of ['{', 'undefined', "{'a':1}", 'NaN']) {
      expectInvalid(() => checkJsonBytes(Buffer.from(text), 'input'), 'input');
    }
    expectInvalid(() => checkJsonBytes(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), 'output'), 'output');
    const deep = `${'['.repeat(INPUT_LIMITS.maxJsonDepth + 1)}${']'.repeat(INPUT_LIMITS.maxJsonDepth + 1)}`;
    expectInvalid(() => checkJsonBytes(Buffer.from(deep), 'input'), 'input');
  });
});
