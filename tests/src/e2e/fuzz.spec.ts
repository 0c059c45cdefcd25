import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Client as GrpcClient, Metadata, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import {
  API_KEYS,
  CHILD_LIMITS,
  FLOW_CONTROL,
  GRPC_ERROR_METADATA,
  INPUT_LIMITS,
  LIMITS,
  OPERATOR_LIMITS,
  ROLES,
} from '@baton/contracts';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE } from '@baton/proto';
import { TestHarness } from '../index';
import type { FieldDescriptor, MessageDescriptor } from '@baton/runtime';

/*
 * Invariant 11 under fire: thousands of generated malformed requests over
 * every HTTP route and every gRPC method. Each request is a valid request
 * with exactly one thing broken (or raw garbage), so each must be refused
 * with INVALID_ARGUMENT (or PAYLOAD_TOO_LARGE) naming the broken field:
 * never a 5xx, never gRPC INTERNAL/UNKNOWN, never stored. The same bad value
 * sent over HTTP and over gRPC must get the same code and field.
 *
 * Deterministic: FUZZ_SEED (default below) seeds fast-check; a failure prints
 * the seed and the counterexample. FUZZ_SCALE multiplies the request count.
 */

const SEED = Number(process.env.FUZZ_SEED ?? 7_011);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const IN_FLIGHT = 32;
const HTTP_BATCHES = Math.round(180 * SCALE);
const GRPC_BATCHES = Math.round(150 * SCALE);
const PARITY_BATCHES = Math.round(40 * SCALE);

/* ------------------------------------------------------------------ */
/* Raw protobuf, built from the service descriptors the server loads.  */
/* ------------------------------------------------------------------ */

interface MethodDefinition {
  path: string;
  requestType: { type: MessageDescriptor };
}
type PackageDefinition = Record<string, Record<string, MethodDefinition> | { type?: MessageDescriptor }>;

// The loader is a dependency of @baton/proto, not of the tests: reach it through that package.
const protoRequire = createRequire(join(__dirname, '..', '..', '..', 'proto', 'package.json'));
const { loadSync } = protoRequire('@grpc/proto-loader') as {
  loadSync: (files: string[], options: object) => PackageDefinition;
};
const definition = loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS);

function messageType(fullName: string): MessageDescriptor {
  const entry = definition[fullName] as { type?: MessageDescriptor } | undefined;
  if (!entry?.type) throw new Error(`no message ${fullName}`);
  return entry.type;
}

function resolve(scope: MessageDescriptor, typeName: string): MessageDescriptor {
  return scope.nestedType.find((n) => n.name === typeName) ?? messageType(`${PROTO_PACKAGE}.${typeName}`);
}

/** Every unary method of the four services: 'WorkflowService/Start' → its definition. */
const METHODS = new Map<string, MethodDefinition>();
for (const [name, value] of Object.entries(definition)) {
  if (!name.endsWith('Service')) continue;
  for (const [method, def] of Object.entries(value as Record<string, MethodDefinition>)) {
    METHODS.set(`${name.slice(PROTO_PACKAGE.length + 1)}/${method}`, def);
  }
}

/** Exact bytes for one field, whatever its declared type (a wrong wire type, garbage...). */
class RawField {
  constructor(
    readonly wireType: number,
    readonly bytes: Buffer,
  ) {}
}
/** Exact content bytes for a string field (invalid UTF-8). */
class Utf8Bytes {
  constructor(readonly bytes: Buffer) {}
}
/** Extra bytes appended after the encoded message. */
const EXTRA = '$extra';

function varint(value: number | bigint): Buffer {
  let n = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (n > 127n) {
    out.push(Number(n & 127n) | 128);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

const tag = (num: number, wireType: number) => varint(num * 8 + wireType);
const ld = (num: number, bytes: Buffer) => Buffer.concat([tag(num, 2), varint(bytes.length), bytes]);

/** UTF-16 → bytes the way JavaScript protobuf encoders do: a lone surrogate becomes 3 invalid bytes. */
function wtf8(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    const d = text.charCodeAt(i + 1);
    if (c >= 0xd800 && c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
      c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      i++;
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Buffer.from(out);
}

function encodeValue(scope: MessageDescriptor, field: FieldDescriptor, value: unknown): Buffer {
  if (value instanceof RawField) {
    const body = value.wireType === 2 ? Buffer.concat([varint(value.bytes.length), value.bytes]) : value.bytes;
    return Buffer.concat([tag(field.number, value.wireType), body]);
  }
  switch (field.type) {
    case 'TYPE_STRING':
      return ld(field.number, value instanceof Utf8Bytes ? value.bytes : wtf8(String(value)));
    case 'TYPE_BYTES':
      return ld(field.number, value as Buffer);
    case 'TYPE_INT32':
    case 'TYPE_INT64':
      return Buffer.concat([tag(field.number, 0), varint(value as number | bigint)]);
    case 'TYPE_BOOL':
      return Buffer.concat([tag(field.number, 0), varint(value ? 1 : 0)]);
    case 'TYPE_DOUBLE': {
      const b = Buffer.alloc(8);
      b.writeDoubleLE(value as number);
      return Buffer.concat([tag(field.number, 1), b]);
    }
    case 'TYPE_MESSAGE':
      return ld(field.number, encodeMessage(resolve(scope, field.typeName), value as Record<string, unknown>));
    default:
      throw new Error(`unsupported field type ${field.type}`);
  }
}

function encodeMessage(type: MessageDescriptor, value: Record<string, unknown>): Buffer {
  const parts: Buffer[] = [];
  for (const field of type.field) {
    const v = value[field.name];
    if (v === undefined) continue;
    const sub = field.type === 'TYPE_MESSAGE' ? resolve(type, field.typeName) : null;
    if (sub?.options?.mapEntry && !(v instanceof RawField)) {
      for (const [key, entry] of Object.entries(v as Record<string, unknown>)) {
        parts.push(ld(field.number, encodeMessage(sub, { key, value: entry })));
      }
    } else if (field.label === 'LABEL_REPEATED' && Array.isArray(v)) {
      for (const item of v) parts.push(encodeValue(type, field, item));
    } else {
      parts.push(encodeValue(type, field, v));
    }
  }
  const extra = value[EXTRA];
  if (extra) parts.push(extra as Buffer);
  return Buffer.concat(parts);
}

/* ------------------------------------------------------------------ */
/* Value generators.                                                    */
/* ------------------------------------------------------------------ */

/** A JSON value nested `depth` levels deep, written as text (the client's JSON.stringify would overflow). */
class Deep {
  constructor(
    readonly depth: number,
    readonly shape: 'array' | 'object',
  ) {}
  text(): string {
    return this.shape === 'array'
      ? `${'['.repeat(this.depth)}${']'.repeat(this.depth)}`
      : `${'{"a":'.repeat(this.depth)}1${'}'.repeat(this.depth)}`;
  }
}

function jsonText(value: unknown): string {
  if (value instanceof Deep) return value.text();
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).map(
      (k) => `${JSON.stringify(k)}:${jsonText((value as Record<string, unknown>)[k])}`,
    );
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A null-prototype object, so keys such as "__proto__" are plain keys. */
function record(entries: Array<[string, unknown]>): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of entries) if (v !== undefined) out[k] = v;
  return out;
}

const ascii = (minLength = 0, maxLength = 6) => fc.string({ minLength, maxLength });
const around = (middle: fc.Arbitrary<string>) =>
  fc.tuple(ascii(0, 4), middle, ascii(0, 4)).map(([a, m, b]) => `${a}${m}${b}`);
const loneSurrogate = around(fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)));
const withNul = around(fc.constant('\u0000'));
const tooLong = fc
  .tuple(fc.integer({ min: 256, max: 1_200 }), fc.constantFrom('x', 'é', '😀', '中'))
  .map(([bytes, ch]) => ch.repeat(Math.ceil(bytes / Buffer.byteLength(ch)) + 1));
const deep = fc
  .tuple(
    fc.integer({ min: INPUT_LIMITS.maxJsonDepth + 1, max: 6_000 }),
    fc.constantFrom<'array' | 'object'>('array', 'object'),
  )
  .map(([n, shape]) => new Deep(n, shape));
/** Wrong JSON types for a field that wants text; never null (which some fields read as "absent"). */
const notText = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(ascii(), { maxLength: 3 }),
  fc.dictionary(ascii(1, 5), ascii(), { maxKeys: 3 }),
  deep,
);
const notNumber = fc.oneof(
  ascii(),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(ascii(1, 5), fc.integer(), { maxKeys: 3 }),
  deep,
);
const notObject = fc.oneof(ascii(), fc.constant('😀'), fc.integer(), fc.boolean(), fc.array(ascii(), { maxLength: 3 }));

const isUuidText = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
/** Safe as a path segment: not empty, not a dot segment the URL parser would collapse. */
const segmentSafe = (s: string) => s !== '' && s !== '.' && s !== '..' && s.trim() !== '';

/** Valid names: plain and Unicode (well-formed, no NUL), 1..255 bytes. */
const validName = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$/),
  fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 6 })
    .filter((s) => !s.includes('\u0000') && Buffer.byteLength(s) <= 255 && segmentSafe(s)),
);

const badDurationText = fc.oneof(
  fc.constantFrom('abc', '5x', '1.2.3s', '--5s', 's', 'ms', '1 s 2', 'Infinity', 'NaN', '1e3s', '0x10'),
  ascii(1, 6).filter((s) => !/^\s*-?(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h|d))+)\s*$/.test(s)),
);
const negative = fc.integer({ min: -1_000_000_000, max: -1 });

/** Text of a runs page token that is well formed except for one thing. */
const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const goodTime = '2026-01-02 03:04:05.123456+00';
const badTime = fc.constantFrom(
  '2026-01-02 03:04:05.123456+16',
  '2026-01-02 03:04:05.123456+99',
  '2026-01-02 03:04:05+15:60',
  '2026-01-02 03:04:05-16:00',
  '2026-01-02 03:04:05+00:00:60',
  '2026-02-30 03:04:05+00',
  '2026-01-02 24:00:00+00',
  '0000-01-02 03:04:05+00',
  '2026-01-02 03:04:05.123456+00\u0000',
  '2026-01-02T03:04:05Z',
  'yesterday',
);
const runsTokenBad = fc.oneof(
  ascii(1, 20),
  withNul,
  badTime.map((t) => base64url(JSON.stringify({ t, i: '0198a0f0-0000-7000-8000-000000000000' }))),
  around(fc.constant('x')).map((i) => base64url(JSON.stringify({ t: goodTime, i }))),
  fc.constantFrom('[1]', '"x"', 'null', '{}', '{"t":1,"i":2}', '{"t":"\\u0000","i":"x"}').map(base64url),
);
const schedulesTokenBad = fc.oneof(
  withNul,
  fc.oneof(withNul, loneSurrogate, tooLong).map((s) => base64url(JSON.stringify({ s }))),
  fc.constantFrom('[1]', '"x"', 'null', '{}', '{"s":1}', '{"s":""}').map(base64url),
  ascii(1, 3).map((s) => `${s}!`),
);
const stepsTokenBad = fc.oneof(
  fc.constantFrom('-1', '1.5', '2147483648', '99999999999999999999', 'abc', ' 1', '1 ', '0x1'),
  ascii(1, 8).filter((s) => !/^\d+$/.test(s)),
  withNul,
);
const historyTokenBad = fc.oneof(
  fc.constantFrom('-1', '1.5', '9999999999999999', 'abc', ' 1', '1 ', '0x1'),
  ascii(1, 8).filter((s) => !/^\d+$/.test(s)),
  withNul,
);

/* ------------------------------------------------------------------ */
/* Field kinds: valid values, and bad values for body, text and gRPC.   */
/* ------------------------------------------------------------------ */

interface Kind {
  /** A valid JSON value (HTTP body) — also the gRPC value unless `grpcValid` says otherwise. */
  valid: fc.Arbitrary<unknown>;
  /** Valid as path or query text. */
  validText?: fc.Arbitrary<string>;
  /** Bad JSON values for the body; each is invalid whatever the rest of the request. */
  badBody: fc.Arbitrary<unknown>;
  /** Bad text for a path segment or query parameter. */
  badText?: fc.Arbitrary<string>;
  /** Valid gRPC value (defaults to `valid`). */
  grpcValid?: fc.Arbitrary<unknown>;
  /** Bad gRPC values (typed values, invalid UTF-8 or raw wrong-wire-type fields). */
  badGrpc: fc.Arbitrary<unknown>;
}

const invalidUtf8 = fc.oneof(
  loneSurrogate.map((s) => new Utf8Bytes(wtf8(s))),
  fc
    .constantFrom([0xff], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xed, 0xbf, 0xbf])
    .map((b) => new Utf8Bytes(Buffer.concat([Buffer.from('ab'), Buffer.from(b), Buffer.from('cd')]))),
);
const wrongWireForText = fc.oneof(
  fc.integer({ min: 0, max: 1_000 }).map((n) => new RawField(0, varint(n))),
  fc.constant(new RawField(5, Buffer.alloc(4, 1))),
  fc.constant(new RawField(1, Buffer.alloc(8, 1))),
);
const wrongWireForNumber = fc.oneof(
  ascii(0, 5).map((s) => new RawField(2, Buffer.from(s))),
  fc.constant(new RawField(5, Buffer.alloc(4, 1))),
);
const wrongWireForMessage = fc.oneof(
  fc.integer({ min: 0, max: 1_000 }).map((n) => new RawField(0, varint(n))),
  fc.constant(new RawField(5, Buffer.alloc(4, 1))),
  // Garbage where the sub-message goes: truncated fields, bad tags, group markers.
  fc
    .constantFrom([0x0a, 0x05, 0x61], [0x00], [0x0b, 0x0c], [0xff, 0xff, 0xff], [0x08])
    .map((b) => new RawField(2, Buffer.from(b))),
);

function nameKind(required: boolean): Kind {
  const absentish = required ? [fc.constant(''), fc.constant(null)] : [];
  return {
    valid: validName,
    validText: validName,
    badBody: fc.oneof(...absentish, loneSurrogate, withNul, tooLong, notText),
    badText: fc.oneof(loneSurrogate, withNul, tooLong).filter(segmentSafe),
    badGrpc: fc.oneof(...(required ? [fc.constant('')] : []), invalidUtf8, withNul, tooLong, wrongWireForText),
  };
}

/** An operator's reason: text (no NUL, well-formed) of up to OPERATOR_LIMITS.reasonBytes. */
function reasonKind(required: boolean): Kind {
  const over = fc
    .tuple(fc.integer({ min: OPERATOR_LIMITS.reasonBytes + 1, max: 3_000 }), fc.constantFrom('x', 'é', '😀', '中'))
    .map(([bytes, ch]) => ch.repeat(Math.ceil(bytes / Buffer.byteLength(ch)) + 1));
  return {
    valid: validName,
    badBody: fc.oneof(...(required ? [fc.constant(''), fc.constant(null)] : []), loneSurrogate, withNul, over, notText),
    badGrpc: fc.oneof(...(required ? [fc.constant('')] : []), invalidUtf8, withNul, over, wrongWireForText),
  };
}

function uuidKind(valid: () => string): Kind {
  const notUuid = fc.oneof(
    ascii(1, 40).filter((s) => !isUuidText(s) && segmentSafe(s)),
    fc.uuid().map((u) => `${u}x`),
    fc.uuid().map((u) => u.replace(/-/g, '')),
    loneSurrogate,
    withNul,
  );
  return {
    valid: fc.constant(null).map(valid),
    validText: fc.constant(null).map(valid),
    badBody: fc.oneof(fc.constant(''), notUuid, notText),
    badText: notUuid.filter((s) => !s.includes('/')),
    badGrpc: fc.oneof(
      fc.constant(''),
      notUuid.filter((s) => !/[\ud800-\udfff]/.test(s)),
      invalidUtf8,
      wrongWireForText,
    ),
  };
}

/** An optional run id (a filter): empty is absent, anything else must be a UUID. */
function optionalUuid(kind: Kind): Kind {
  const notEmpty = (v: unknown) => v !== '';
  return {
    ...kind,
    badBody: kind.badBody.filter(notEmpty),
    badText: kind.badText?.filter(notEmpty),
    badGrpc: kind.badGrpc.filter(notEmpty),
  };
}

function intKind(min: number, max: number, { zeroMeansDefault = false } = {}): Kind {
  const outOfRange = fc.oneof(
    fc.integer({ min: -2_000_000_000, max: min - 1 }),
    fc.integer({ min: max + 1, max: Math.max(max + 1, 2_000_000_000) }),
  );
  const bad = zeroMeansDefault ? outOfRange.filter((n) => n !== 0) : outOfRange;
  return {
    valid: fc.integer({ min, max }),
    validText: fc.integer({ min, max }).map(String),
    badBody: fc.oneof(
      bad,
      fc.double({ min: min + 0.1, max: max - 0.1, noNaN: true }).filter((d) => !Number.isInteger(d)),
      notNumber,
    ),
    badText: fc.oneof(
      bad.map(String),
      fc.constantFrom('abc', '1.5', '1e3', ' 5', '0x10', '-0.5'),
      ascii(1, 5).filter((s) => !/^\d+$/.test(s)),
    ),
    badGrpc: fc.oneof(bad, wrongWireForNumber),
  };
}

function durationKind(maxMs: number, { zeroInvalid = false } = {}): Kind {
  const over = fc.integer({ min: maxMs + 1, max: maxMs * 4 });
  const bad = zeroInvalid ? fc.oneof(negative, over, fc.constant(0)) : fc.oneof(negative, over);
  return {
    valid: fc.integer({ min: zeroInvalid ? 1 : 0, max: maxMs }),
    validText: fc.integer({ min: zeroInvalid ? 1 : 0, max: maxMs }).map(String),
    badBody: fc.oneof(
      bad,
      badDurationText,
      fc.boolean(),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.dictionary(ascii(1, 3), fc.integer(), { maxKeys: 2 }),
      deep,
    ),
    badText: fc.oneof(
      bad.map(String),
      badDurationText.filter((s) => s.trim() !== ''),
    ),
    badGrpc: fc.oneof(bad, wrongWireForNumber),
  };
}

function enumKind(values: string[]): Kind {
  const bad = ascii(1, 10).filter((s) => !values.includes(s));
  return {
    valid: fc.constantFrom(...values),
    validText: fc.constantFrom(...values),
    badBody: fc.oneof(bad, withNul, loneSurrogate, notText),
    badText: fc.oneof(bad, withNul),
    badGrpc: fc.oneof(bad, invalidUtf8, wrongWireForText),
  };
}

const boolKind: Kind = {
  valid: fc.boolean(),
  badBody: fc.oneof(
    fc.constantFrom('true', 'false', 'yes', '', 1, 0),
    fc.array(fc.boolean(), { maxLength: 2 }),
    fc.dictionary(ascii(1, 3), fc.boolean(), { maxKeys: 2 }),
    deep,
  ),
  badGrpc: wrongWireForNumber,
};

const jsonValue = fc.jsonValue({ maxDepth: 3 });

function payloadKind(): Kind {
  return {
    valid: jsonValue,
    grpcValid: jsonValue.map((v) => ({ data: Buffer.from(JSON.stringify(v)), encoding: 'json' })),
    badBody: deep,
    badGrpc: fc.oneof(
      ascii(1, 8)
        .filter((e) => e !== 'json' && e !== 'binary')
        .map((encoding) => ({ data: Buffer.from('1'), encoding })),
      fc
        .constantFrom('{', '{"a":', 'undefined', "{'a':1}", 'NaN', '[1,]', '\u0000', 'tru', '"\\x"', '01')
        .chain((text) => fc.constantFrom('json', '').map((encoding) => ({ data: Buffer.from(text), encoding }))),
      fc
        .uint8Array({ minLength: 1, maxLength: 20 })
        .map((b) => ({ data: Buffer.concat([Buffer.from([0xff]), b]), encoding: 'json' })),
      deep.map((d) => ({ data: Buffer.from(d.text()), encoding: 'json' })),
      invalidUtf8.map((encoding) => ({ data: Buffer.from('1'), encoding })),
      wrongWireForMessage,
    ),
  };
}

const base64Kind: Kind = {
  valid: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.from(b).toString('base64')),
  badBody: fc.oneof(
    fc.constantFrom('!!!', 'ab$c', '😀', 'a b', '====', 'abc=d'),
    ascii(1, 8).filter((s) => !/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)),
    fc.integer(),
    fc.boolean(),
    fc.array(ascii(), { maxLength: 2 }),
    fc.dictionary(ascii(1, 3), ascii(), { maxKeys: 2 }),
    deep,
  ),
  badGrpc: fc.constant(undefined),
};

const DAY_MS = 24 * 3_600_000;
const nonRetryableErrorsBad = fc.oneof(
  ascii(1, 5),
  fc.integer(),
  fc.dictionary(ascii(1, 3), ascii(), { minKeys: 1, maxKeys: 2 }),
  nameKind(true).badBody.map((bad) => ['Ok', bad]),
  fc.constant(Array.from({ length: 101 }, (_, i) => `E${i}`)),
);

function retryKind(): Kind {
  const member = (key: string, bad: fc.Arbitrary<unknown>) => bad.map((v) => record([[key, v]]));
  const attempts = intKind(1, LIMITS.maxAttempts);
  const interval = durationKind(DAY_MS);
  const coefficientBad = fc.oneof(
    fc.double({ min: -10, max: 0.99, noNaN: true }),
    fc.double({ min: 100.01, max: 1e9, noNaN: true }),
    ascii(),
    fc.boolean(),
  );
  return {
    valid: fc.record(
      {
        maxAttempts: fc.integer({ min: 1, max: LIMITS.maxAttempts }),
        initialIntervalMs: fc.integer({ min: 0, max: DAY_MS }),
        initialInterval: fc.constantFrom('1s', '250ms', '2m'),
        backoffCoefficient: fc.double({ min: 1, max: 100, noNaN: true }),
      },
      { requiredKeys: [] },
    ),
    grpcValid: fc.record(
      {
        maxAttempts: fc.integer({ min: 1, max: LIMITS.maxAttempts }),
        initialIntervalMs: fc.integer({ min: 0, max: DAY_MS }),
      },
      { requiredKeys: [] },
    ),
    badBody: fc.oneof(
      notObject,
      deep,
      ascii(1, 10)
        .filter(
          (k) =>
            ![
              'maxAttempts',
              'initialInterval',
              'initialIntervalMs',
              'maxInterval',
              'maxIntervalMs',
              'backoffCoefficient',
              'nonRetryableErrors',
            ].includes(k),
        )
        .map((k) => record([[k, 1]])),
      member('maxAttempts', attempts.badBody),
      member('initialIntervalMs', interval.badBody),
      member('initialInterval', interval.badBody),
      member('maxIntervalMs', interval.badBody),
      member('maxInterval', interval.badBody),
      member('backoffCoefficient', coefficientBad),
      member('nonRetryableErrors', nonRetryableErrorsBad),
    ),
    badGrpc: fc.oneof(
      member('maxAttempts', fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: 1001, max: 1e6 }))),
      member('initialIntervalMs', fc.oneof(negative, fc.integer({ min: DAY_MS + 1, max: DAY_MS * 10 }))),
      member('maxIntervalMs', fc.oneof(negative, fc.integer({ min: DAY_MS + 1, max: DAY_MS * 10 }))),
      member(
        'backoffCoefficient',
        fc.oneof(fc.constant(Number.NaN), fc.constant(Infinity), fc.double({ min: -10, max: 0.99, noNaN: true })),
      ),
      member(
        'nonRetryableErrors',
        fc.oneof(invalidUtf8, withNul, tooLong, fc.constant('')).map((bad) => ['Ok', bad]),
      ),
      wrongWireForMessage,
    ),
  };
}

/** A start's `concurrency`: { key, limit }; a bad member is named as `concurrency.<member>`. */
function concurrencyKind(): Kind {
  const key = nameKind(true);
  const limit = intKind(FLOW_CONTROL.concurrencyLimit.min, FLOW_CONTROL.concurrencyLimit.max);
  const withKey = (v: unknown) =>
    record([
      ['key', v],
      ['limit', 1],
    ]);
  const withLimit = (v: unknown) =>
    record([
      ['key', 'k'],
      ['limit', v],
    ]);
  const outOfRange = fc.oneof(
    fc.integer({ min: -5, max: 0 }),
    fc.integer({ min: FLOW_CONTROL.concurrencyLimit.max + 1, max: 1e6 }),
  );
  return {
    valid: fc.record({ key: validName, limit: fc.integer(FLOW_CONTROL.concurrencyLimit) }),
    badBody: fc.oneof(
      notObject,
      deep,
      ascii(1, 10)
        .filter((k) => k !== 'key' && k !== 'limit')
        .map((k) =>
          record([
            ['key', 'k'],
            ['limit', 1],
            [k, 1],
          ]),
        ),
      key.badBody.map(withKey),
      limit.badBody.map(withLimit),
      fc.constant(record([['key', 'k']])),
    ),
    badGrpc: fc.oneof(key.badGrpc.map(withKey), outOfRange.map(withLimit), wrongWireForMessage),
  };
}

/** A rate limit's period in ms: FLOW_CONTROL.ratePeriodMs, required. */
function ratePeriodKind(): Kind {
  const { min, max } = FLOW_CONTROL.ratePeriodMs;
  const outOfRange = fc.oneof(fc.integer({ min: -1_000, max: min - 1 }), fc.integer({ min: max + 1, max: max * 4 }));
  return {
    valid: fc.integer({ min, max }),
    badBody: fc.oneof(
      outOfRange,
      badDurationText,
      fc.constant(''),
      fc.constant(null),
      fc.boolean(),
      fc.array(fc.integer(), { maxLength: 2 }),
    ),
    badGrpc: fc.oneof(outOfRange, wrongWireForNumber),
  };
}

function errorKind(): Kind {
  const free = fc.string({ unit: 'binary', maxLength: 20 });
  return {
    // Free text, even with NUL and lone surrogates: a worker's failure is always stored.
    valid: fc.record(
      { message: free, type: free, stack: free, nonRetryable: fc.boolean() },
      { requiredKeys: ['message'] },
    ),
    badBody: fc.oneof(
      notObject,
      deep,
      ascii(1, 10)
        .filter((k) => !['message', 'type', 'stack', 'nonRetryable'].includes(k))
        .map((k) => record([[k, 'x']])),
      notText.map((v) => record([['message', v]])),
      notText.map((v) => record([['type', v]])),
      notText.map((v) => record([['stack', v]])),
      fc
        .oneof(ascii(), fc.integer(), fc.dictionary(ascii(1, 3), ascii(), { maxKeys: 2 }))
        .map((v) => record([['nonRetryable', v]])),
    ),
    badGrpc: wrongWireForMessage,
  };
}

function mapKind(valueKind: 'text' | 'int'): Kind {
  const validValue: fc.Arbitrary<unknown> =
    valueKind === 'text' ? validName : fc.integer({ min: 1, max: LIMITS.maxConcurrent });
  const badValue =
    valueKind === 'text'
      ? fc.oneof(
          withNul,
          loneSurrogate,
          tooLong,
          fc.integer(),
          fc.dictionary(ascii(1, 3), ascii(), { maxKeys: 2 }),
          fc.array(ascii(), { maxLength: 2 }),
        )
      : fc.oneof(
          fc.integer({ min: -5, max: 0 }),
          fc.integer({ min: LIMITS.maxConcurrent + 1, max: 1e7 }),
          ascii(),
          fc.constant(1.5),
        );
  const badGrpcValue =
    valueKind === 'text'
      ? fc.oneof(withNul, invalidUtf8, tooLong)
      : fc.oneof(fc.integer({ min: -5, max: 0 }), fc.integer({ min: LIMITS.maxConcurrent + 1, max: 1e7 }));
  return {
    valid: fc.dictionary(validName, validValue, { maxKeys: 3 }),
    badBody: fc.oneof(
      notObject,
      deep,
      fc
        .tuple(fc.oneof(fc.constant(''), withNul, loneSurrogate, tooLong), validValue)
        .map(([k, v]) => record([[k, v]])),
      fc.tuple(validName, badValue).map(([k, v]) => record([[k, v]])),
    ),
    badGrpc: fc.oneof(
      fc.tuple(fc.oneof(withNul, tooLong), validValue).map(([k, v]) => record([[k, v]])),
      fc.tuple(validName, badGrpcValue).map(([k, v]) => record([[k, v]])),
      // A map entry whose key is not UTF-8, written by hand.
      invalidUtf8.map(
        (u) =>
          new RawField(
            2,
            Buffer.concat([ld(1, u.bytes), valueKind === 'text' ? ld(2, Buffer.from('v')) : Buffer.from([0x10, 0x01])]),
          ),
      ),
      wrongWireForMessage,
    ),
  };
}

function listKind(item: Kind, { required = false, max = 0 } = {}): Kind {
  return {
    valid: fc.array(item.valid, { minLength: required ? 1 : 0, maxLength: 3 }),
    grpcValid: fc.array(item.grpcValid ?? item.valid, { minLength: required ? 1 : 0, maxLength: 3 }),
    badBody: fc.oneof(
      ...(required ? [fc.constant([])] : []),
      ...(max ? [fc.constant(Array.from({ length: max + 1 }, (_, i) => `t${i}`))] : []),
      fc.oneof(
        ascii(1, 5),
        fc.integer(),
        fc.boolean(),
        fc.dictionary(ascii(1, 3), ascii(), { minKeys: 1, maxKeys: 2 }),
      ),
      deep,
      fc.tuple(fc.array(item.valid, { maxLength: 2 }), item.badBody).map(([ok, bad]) => [...ok, bad]),
    ),
    badGrpc: fc.oneof(
      ...(required ? [fc.constant([])] : []),
      ...(max ? [fc.constant(Array.from({ length: max + 1 }, (_, i) => `t${i}`))] : []),
      fc.tuple(fc.array(item.grpcValid ?? item.valid, { maxLength: 2 }), item.badGrpc).map(([ok, bad]) => [...ok, bad]),
    ),
  };
}

function tokenKind(bad: fc.Arbitrary<string>): Kind {
  return {
    valid: fc.constant(''),
    validText: fc.constant(''),
    badBody: bad,
    badText: bad,
    badGrpc: fc.oneof(bad, invalidUtf8, wrongWireForText),
  };
}

const cronKind: Kind = {
  valid: fc.constantFrom('* * * * *', '0 0 * * *', '*/5 * * * * *'),
  badBody: fc.oneof(
    fc.constantFrom('', 'x', '* * *', '61 * * * *', '* * * * * * *', '* * 32 * *', '@every 5s'),
    withNul.map((s) => `* * * * *${s}`),
    loneSurrogate,
    notText,
    fc.constant(null),
  ),
  badGrpc: fc.oneof(fc.constantFrom('', 'x', '* * *', '61 * * * *'), invalidUtf8, wrongWireForText),
};

const timezoneKind: Kind = {
  valid: fc.constantFrom('UTC', 'Europe/Paris', 'America/New_York'),
  badBody: fc.oneof(fc.constantFrom('Mars/Phobos', 'UTC+99', 'Europe/Nowhere'), withNul, loneSurrogate, notText),
  badGrpc: fc.oneof(fc.constantFrom('Mars/Phobos', 'UTC+99'), withNul, invalidUtf8, wrongWireForText),
};

/* ------------------------------------------------------------------ */
/* The HTTP routes.                                                     */
/* ------------------------------------------------------------------ */

interface Field {
  name: string;
  kind: Kind;
  at: 'path' | 'query' | 'body';
  required?: boolean;
  /** What the error names when the field itself is bad (default: its name). */
  errorField?: string;
}

interface Route {
  name: string;
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  fields: Field[];
}

interface Fixtures {
  runId: string;
  workerId: string;
  scheduleId: string;
  /** A well-formed lease token (no claim's: a valid lease is refused as not the run's, never as malformed). */
  leaseToken: string;
}

function routes(fx: Fixtures): Route[] {
  const name = nameKind(true);
  const optName = nameKind(false);
  const runId = uuidKind(() => fx.runId);
  const workerId = uuidKind(() => fx.workerId);
  const scheduleId: Kind = { ...name, valid: fc.constant(fx.scheduleId), validText: fc.constant(fx.scheduleId) };
  const ns: Field = { name: 'namespace', kind: { ...name, validText: fc.constant('default') }, at: 'path' };
  const path = (n: string, kind: Kind, errorField?: string): Field => ({ name: n, kind, at: 'path', errorField });
  const body = (n: string, kind: Kind, extra: Partial<Field> = {}): Field => ({ name: n, kind, at: 'body', ...extra });
  const query = (n: string, kind: Kind, errorField?: string): Field => ({ name: n, kind, at: 'query', errorField });
  const pageSize = (max: number) => query('pageSize', intKind(1, max));
  const lease = [
    body('workerId', workerId, { required: true, errorField: 'lease.workerId' }),
    body('leaseEpoch', intKind(1, 2 ** 31 - 1), { required: true, errorField: 'lease.leaseEpoch' }),
    body(
      'leaseToken',
      uuidKind(() => fx.leaseToken),
      { required: true, errorField: 'lease.leaseToken' },
    ),
  ];
  const runPath = path('runId', runId);
  // Worker mutations carry the namespace inside their lease.
  const leaseNs: Field = { ...ns, errorField: 'lease.namespace' };
  const leaseRun = path('runId', runId, 'lease.runId');
  const payload = payloadKind();
  const retry = retryKind();
  const error = errorKind();
  const W = '/v1/namespaces/:namespace/workflows';
  const S = '/v1/namespaces/:namespace/schedules';
  const N = '/v1/namespaces/:namespace';
  return [
    {
      name: 'start',
      method: 'POST',
      path: W,
      fields: [
        ns,
        body('workflowType', name, { required: true }),
        body('queue', optName),
        body('input', payload),
        body('inputBase64', base64Kind),
        body('externalId', optName),
        body('retry', retry),
        body('timeoutMs', durationKind(LIMITS.maxRunTimeoutMs, { zeroInvalid: true })),
        body('timeout', durationKind(LIMITS.maxRunTimeoutMs, { zeroInvalid: true }), { errorField: 'timeoutMs' }),
        body('correlationId', optName),
        body('traceId', optName),
        body('priority', intKind(FLOW_CONTROL.priority.min, FLOW_CONTROL.priority.max)),
        body('concurrency', concurrencyKind()),
      ],
    },
    {
      name: 'list runs',
      method: 'GET',
      path: W,
      fields: [
        ns,
        query('status', enumKind(['PENDING', 'RUNNING', 'SLEEPING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED'])),
        query('workflowType', optName),
        query('queue', optName),
        pageSize(LIMITS.runsPage.max),
        query('pageToken', tokenKind(runsTokenBad)),
        query('parentRunId', optionalUuid(runId)),
      ],
    },
    { name: 'get run', method: 'GET', path: `${W}/:runId`, fields: [ns, runPath] },
    { name: 'cancel run', method: 'POST', path: `${W}/:runId/cancel`, fields: [ns, runPath] },
    {
      name: 'terminate run',
      method: 'POST',
      path: `${W}/:runId/terminate`,
      fields: [ns, runPath, body('reason', reasonKind(true), { required: true })],
    },
    {
      name: 'retry run',
      method: 'POST',
      path: `${W}/:runId/retry`,
      fields: [ns, runPath, body('reason', reasonKind(false))],
    },
    {
      name: 'reset run',
      method: 'POST',
      path: `${W}/:runId/reset`,
      fields: [ns, runPath, body('stepId', name, { required: true }), body('reason', reasonKind(false))],
    },
    {
      name: 'run history',
      method: 'GET',
      path: `${W}/:runId/history`,
      fields: [ns, runPath, pageSize(OPERATOR_LIMITS.historyPage.max), query('pageToken', tokenKind(historyTokenBad))],
    },
    { name: 'delete run', method: 'DELETE', path: `${W}/:runId`, fields: [ns, runPath] },
    {
      name: 'list steps',
      method: 'GET',
      path: `${W}/:runId/steps`,
      fields: [ns, runPath, pageSize(LIMITS.stepsPage.max), query('pageToken', tokenKind(stepsTokenBad))],
    },
    {
      name: 'wait result',
      method: 'GET',
      path: `${W}/:runId/result`,
      fields: [
        ns,
        runPath,
        query('waitMs', durationKind(LIMITS.maxWaitMs)),
        query('wait', durationKind(LIMITS.maxWaitMs), 'waitMs'),
      ],
    },
    {
      name: 'signal',
      method: 'POST',
      path: `${W}/:runId/signals`,
      fields: [
        ns,
        runPath,
        body('name', name, { required: true }),
        body('payload', payload),
        body('payloadBase64', base64Kind),
      ],
    },
    {
      name: 'signal by external id',
      method: 'POST',
      path: `${N}/signals`,
      fields: [
        ns,
        body('externalId', name, { required: true }),
        body('name', name, { required: true }),
        body('payload', payload),
        body('payloadBase64', base64Kind),
      ],
    },
    {
      name: 'create schedule',
      method: 'POST',
      path: S,
      fields: [
        ns,
        body('scheduleId', name, { required: true }),
        body('workflowType', name, { required: true }),
        body('cron', cronKind, { required: true }),
        body('queue', optName),
        body('timezone', timezoneKind),
        body('input', payload),
        body('inputBase64', base64Kind),
        body('maxCatchup', intKind(LIMITS.maxCatchup.min, LIMITS.maxCatchup.max)),
        body('paused', boolKind),
      ],
    },
    {
      name: 'list schedules',
      method: 'GET',
      path: S,
      fields: [
        ns,
        query('workflowType', optName),
        pageSize(LIMITS.schedulesPage.max),
        query('pageToken', tokenKind(schedulesTokenBad)),
      ],
    },
    { name: 'get schedule', method: 'GET', path: `${S}/:scheduleId`, fields: [ns, path('scheduleId', scheduleId)] },
    {
      name: 'update schedule',
      method: 'PATCH',
      path: `${S}/:scheduleId`,
      fields: [
        ns,
        path('scheduleId', scheduleId),
        body('cron', { ...cronKind, badBody: cronKind.badBody.filter((v) => v !== '' && v !== null) }),
        body('timezone', timezoneKind),
        body('workflowType', optName),
        body('queue', optName),
        body('input', payload),
        body('inputBase64', base64Kind),
        body('maxCatchup', intKind(LIMITS.maxCatchup.min, LIMITS.maxCatchup.max)),
      ],
    },
    {
      name: 'pause schedule',
      method: 'POST',
      path: `${S}/:scheduleId/pause`,
      fields: [ns, path('scheduleId', scheduleId)],
    },
    {
      name: 'resume schedule',
      method: 'POST',
      path: `${S}/:scheduleId/resume`,
      fields: [ns, path('scheduleId', scheduleId)],
    },
    {
      name: 'delete schedule',
      method: 'DELETE',
      path: `${S}/:scheduleId`,
      fields: [ns, path('scheduleId', scheduleId)],
    },
    {
      name: 'trigger schedule',
      method: 'POST',
      path: `${S}/:scheduleId/trigger`,
      fields: [ns, path('scheduleId', scheduleId)],
    },
    {
      name: 'list workers',
      method: 'GET',
      path: `${N}/workers`,
      fields: [
        ns,
        query('queue', optName),
        query('status', enumKind(['ONLINE', 'DRAINING', 'OFFLINE'])),
        pageSize(LIMITS.workersPage.max),
      ],
    },
    { name: 'get worker', method: 'GET', path: `${N}/workers/:workerId`, fields: [ns, path('workerId', workerId)] },
    {
      name: 'drain worker',
      method: 'POST',
      path: `${N}/workers/:workerId/drain`,
      fields: [ns, path('workerId', workerId)],
    },
    { name: 'queue stats', method: 'GET', path: `${N}/queues/:queue/stats`, fields: [ns, path('queue', name)] },
    { name: 'list queues', method: 'GET', path: `${N}/queues`, fields: [ns] },
    {
      // By queue here (workflowType beside it would name the target twice): see flow-control.spec.ts.
      name: 'set rate limit',
      method: 'PUT',
      path: `${N}/rate-limits`,
      fields: [
        ns,
        body('queue', name, { required: true }),
        body('limit', intKind(FLOW_CONTROL.rateLimit.min, FLOW_CONTROL.rateLimit.max), { required: true }),
        body('periodMs', ratePeriodKind(), { required: true }),
      ],
    },
    { name: 'list rate limits', method: 'GET', path: `${N}/rate-limits`, fields: [ns] },
    {
      name: 'delete rate limit',
      method: 'DELETE',
      path: `${N}/rate-limits`,
      fields: [ns, query('queue', name)],
    },
    { name: 'server info', method: 'GET', path: '/v1/info', fields: [] },
    {
      name: 'create API key',
      method: 'POST',
      path: '/v1/admin/keys',
      fields: [
        body('name', name, { required: true }),
        body('namespaces', listKind(name, { required: true, max: API_KEYS.maxNamespaces }), { required: true }),
        body('roles', listKind(enumKind([...ROLES]), { required: true, max: ROLES.length }), { required: true }),
      ],
    },
    {
      name: 'list API keys',
      method: 'GET',
      path: '/v1/admin/keys',
      fields: [
        query('includeRevoked', {
          ...boolKind,
          validText: fc.constantFrom('true', 'false'),
          badText: ascii(1, 5).filter((s) => s !== 'true' && s !== 'false'),
        }),
      ],
    },
    {
      name: 'revoke API key',
      method: 'POST',
      path: '/v1/admin/keys/:keyId/revoke',
      fields: [
        path(
          'keyId',
          uuidKind(() => fx.runId),
        ),
      ],
    },
    {
      name: 'register worker',
      method: 'POST',
      path: `${N}/workers`,
      fields: [
        ns,
        body('workflowTypes', listKind(name, { required: true, max: LIMITS.workflowTypesPerWorker }), {
          required: true,
        }),
        body('queue', optName),
        body('maxConcurrent', intKind(1, LIMITS.maxConcurrent, { zeroMeansDefault: true })),
        body('typeConcurrency', mapKind('int')),
        body('hostname', optName),
        body('pid', intKind(0, 2 ** 31 - 1)),
        body('version', optName),
        body('labels', mapKind('text')),
      ],
    },
    {
      name: 'heartbeat',
      method: 'POST',
      path: `${N}/workers/:workerId/heartbeat`,
      fields: [ns, path('workerId', workerId), body('activeRunIds', listKind(runId))],
    },
    {
      name: 'deregister',
      method: 'DELETE',
      path: `${N}/workers/:workerId`,
      fields: [
        ns,
        path('workerId', workerId),
        query('drain', {
          ...boolKind,
          validText: fc.constantFrom('true', 'false'),
          badText: ascii(1, 5).filter((s) => s !== 'true' && s !== 'false'),
        }),
      ],
    },
    {
      name: 'cancellations',
      method: 'POST',
      path: `${N}/workers/:workerId/cancellations`,
      fields: [ns, path('workerId', workerId)],
    },
    {
      name: 'poll',
      method: 'POST',
      path: `${N}/workers/:workerId/poll`,
      fields: [
        ns,
        path('workerId', workerId),
        body('queue', name, { required: true }),
        body('workflowTypes', listKind(name)),
        body('maxTasks', intKind(1, LIMITS.pollMaxTasks, { zeroMeansDefault: true })),
      ],
    },
    {
      name: 'begin step',
      method: 'POST',
      path: `${N}/workflows/:runId/steps/:stepId/begin`,
      fields: [leaseNs, leaseRun, path('stepId', name), ...lease, body('seq', intKind(0, 1_000_000))],
    },
    {
      name: 'complete step',
      method: 'POST',
      path: `${N}/workflows/:runId/steps/:stepId/complete`,
      fields: [
        leaseNs,
        leaseRun,
        path('stepId', name),
        ...lease,
        body('seq', intKind(0, 1_000_000)),
        body('output', payload),
        body('outputBase64', base64Kind),
      ],
    },
    {
      name: 'fail step',
      method: 'POST',
      path: `${N}/workflows/:runId/steps/:stepId/fail`,
      fields: [
        leaseNs,
        leaseRun,
        path('stepId', name),
        ...lease,
        body('seq', intKind(0, 1_000_000)),
        body('error', error),
        body('retry', retry),
      ],
    },
    {
      name: 'sleep',
      method: 'POST',
      path: `${N}/workflows/:runId/sleep`,
      fields: [
        leaseNs,
        leaseRun,
        ...lease,
        body('stepId', name, { required: true }),
        body('seq', intKind(0, 1_000_000)),
        body('durationMs', durationKind(LIMITS.maxSleepMs)),
        body('duration', durationKind(LIMITS.maxSleepMs), { errorField: 'durationMs' }),
      ],
    },
    {
      name: 'wait for signal',
      method: 'POST',
      path: `${N}/workflows/:runId/wait-for-signal`,
      fields: [
        leaseNs,
        leaseRun,
        ...lease,
        body('stepId', name, { required: true }),
        body('seq', intKind(0, 1_000_000)),
        body('name', name, { required: true }),
        body('timeoutMs', durationKind(LIMITS.maxSleepMs)),
        body('timeout', durationKind(LIMITS.maxSleepMs), { errorField: 'timeoutMs' }),
      ],
    },
    {
      name: 'start child',
      method: 'POST',
      path: `${N}/workflows/:runId/children/:stepId`,
      fields: [
        leaseNs,
        leaseRun,
        path('stepId', name),
        ...lease,
        body('seq', intKind(0, 1_000_000)),
        body('workflowType', name, { required: true }),
        body('queue', optName),
        body('input', payload),
        body('inputBase64', base64Kind),
        body('retry', retry),
        body('timeoutMs', durationKind(LIMITS.maxRunTimeoutMs, { zeroInvalid: true })),
        body('timeout', durationKind(LIMITS.maxRunTimeoutMs, { zeroInvalid: true }), { errorField: 'timeoutMs' }),
        body('externalId', optName),
        body('cancelWithParent', boolKind),
        body('park', boolKind),
        body('awaiting', listKind(name, { max: CHILD_LIMITS.maxAwaiting })),
      ],
    },
    {
      name: 'complete workflow',
      method: 'POST',
      path: `${N}/workflows/:runId/complete`,
      fields: [leaseNs, leaseRun, ...lease, body('output', payload), body('outputBase64', base64Kind)],
    },
    {
      name: 'fail workflow',
      method: 'POST',
      path: `${N}/workflows/:runId/fail`,
      fields: [leaseNs, leaseRun, ...lease, body('error', error)],
    },
  ];
}

/** Percent-encodes text the way a JavaScript client would, lone surrogates included (as their WTF-8 bytes). */
function pct(text: string): string {
  return [...wtf8(text)]
    .map((b) =>
      /[A-Za-z0-9_~-]/.test(String.fromCharCode(b))
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

interface HttpCase {
  route: string;
  method: string;
  url: string;
  body?: string;
  /** Acceptable names for the refused field (prefix match on '.' and '['); null: any field. */
  expect: string[] | null;
  what: string;
}

function buildHttp(
  route: Route,
  values: Map<Field, unknown>,
  extraQuery: Array<[string, string]>,
  rawBody?: string,
): Omit<HttpCase, 'expect' | 'what'> {
  let url = route.path;
  const query: Array<[string, string]> = [];
  const body = Object.create(null) as Record<string, unknown>;
  for (const f of route.fields) {
    const v = values.get(f);
    if (f.at === 'path') url = url.replace(`:${f.name}`, pct(String(v)));
    else if (v === undefined) continue;
    else if (f.at === 'query') {
      if (Array.isArray(v)) for (const item of v) query.push([f.name, String(item)]);
      else query.push([f.name, String(v)]);
    } else body[f.name] = v;
  }
  query.push(...extraQuery);
  if (query.length) url += `?${query.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')}`;
  const hasBody = route.method !== 'GET';
  return {
    route: route.name,
    method: route.method,
    url,
    body: rawBody ?? (hasBody ? jsonText(body) : undefined),
  };
}

function httpCases(route: Route): fc.Arbitrary<HttpCase> {
  const base = fc.tuple(
    ...route.fields.map((f) =>
      f.at === 'path' || f.required
        ? ((f.at === 'body' ? f.kind.valid : (f.kind.validText ?? f.kind.valid)) as fc.Arbitrary<unknown>)
        : fc.option((f.at === 'body' ? f.kind.valid : (f.kind.validText ?? f.kind.valid)) as fc.Arbitrary<unknown>, {
            nil: undefined,
            freq: 3,
          }),
    ),
  );
  const known = new Set(route.fields.filter((f) => f.at !== 'path').map((f) => f.name));
  // Payload fields come in pairs; a valid base carries one of them, never both.
  const values = (vs: unknown[]) => {
    const map = new Map(route.fields.map((f, i) => [f, vs[i]] as [Field, unknown]));
    for (const f of route.fields) {
      if (f.name.endsWith('Base64') && map.get(f) !== undefined) {
        const twin = route.fields.find((g) => g.name === f.name.replace(/Base64$/, ''));
        if (twin) map.set(twin, undefined);
      }
      if ((f.name === 'timeout' || f.name === 'duration' || f.name === 'wait') && map.get(f) !== undefined) {
        map.set(f, undefined);
      }
    }
    return map;
  };
  const mutations: Array<fc.Arbitrary<HttpCase>> = [];
  for (const f of route.fields) {
    const bad = f.at === 'body' ? f.kind.badBody : f.kind.badText;
    if (!bad) continue;
    const expect = [f.name, f.errorField ?? f.name];
    mutations.push(
      fc.tuple(base, bad).map(([vs, v]) => {
        const map = values(vs);
        // A twin field (inputBase64 beside input, timeout beside timeoutMs) must not mask the bad one.
        for (const g of route.fields) {
          if (
            g !== f &&
            (g.name === `${f.name}Base64` ||
              f.name === `${g.name}Base64` ||
              g.errorField === f.name ||
              f.errorField === g.name)
          ) {
            map.set(g, undefined);
          }
        }
        map.set(f, v);
        // Lone surrogates cannot be decoded from a URL: the path as a whole is refused.
        const surrogateInUrl = f.at !== 'body' && typeof v === 'string' && /[\ud800-\udfff]/.test(v);
        return {
          ...buildHttp(route, map, []),
          expect: surrogateInUrl ? null : expect,
          what: `${f.at} ${f.name} = ${show(v)}`,
        };
      }),
    );
    if (f.at === 'query') {
      // A repeated parameter arrives as a list.
      mutations.push(
        fc.tuple(base, fc.array(f.kind.validText ?? ascii(1, 3), { minLength: 2, maxLength: 3 })).map(([vs, list]) => {
          const map = values(vs);
          map.set(f, list);
          return { ...buildHttp(route, map, []), expect, what: `query ${f.name} repeated` };
        }),
      );
    }
  }
  // An unknown query parameter, on every route.
  const unknownKey = fc
    .oneof(
      fc.constantFrom('queueName', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'namespace', 'foo[bar]'),
      ascii(1, 10),
    )
    .filter((k) => !known.has(k) && k.trim() !== '' && !/[&=#?+%]/.test(k));
  mutations.push(
    fc.tuple(base, unknownKey, ascii(0, 5)).map(([vs, key, value]) => ({
      ...buildHttp(route, values(vs), [[key, value]]),
      expect: [key.replace(/\[.*$/, ''), key],
      what: `unknown query parameter ${key}`,
    })),
  );
  if (route.method !== 'GET') {
    mutations.push(
      fc.tuple(base, unknownKey, jsonValue).map(([vs, key, value]) => {
        const map = values(vs);
        const built = buildHttp(route, map, []);
        const body = JSON.parse(built.body ?? '{}') as Record<string, unknown>;
        const text = `${built.body!.slice(0, -1)}${Object.keys(body).length ? ',' : ''}${JSON.stringify(key)}:${jsonText(value)}}`;
        return { ...built, body: text, expect: [key], what: `unknown body field ${key}` };
      }),
      fc
        .tuple(
          base,
          fc.constantFrom('[]', '[{"workflowType":"x"}]', '"x"', '5', 'null', 'true', '{"a":', '{}}', '\u0000'),
        )
        .map(([vs, raw]) => ({
          ...buildHttp(route, values(vs), [], raw),
          expect: ['body'],
          what: `body ${JSON.stringify(raw)}`,
        })),
      fc.tuple(base, deep).map(([vs, d]) => ({
        ...buildHttp(route, values(vs), [], `{"deep":${d.text()}}`),
        expect: ['deep'],
        what: `body nested ${d.depth} deep`,
      })),
    );
  }
  return fc.oneof(...mutations);
}

function show(v: unknown): string {
  const text =
    v instanceof Deep
      ? `<${v.depth} deep>`
      : v instanceof Utf8Bytes
        ? `bytes ${v.bytes.toString('hex')}`
        : v instanceof RawField
          ? `raw wire ${v.wireType} ${v.bytes.toString('hex').slice(0, 40)}`
          : JSON.stringify(v, (_k, x) =>
              x instanceof Deep
                ? `<${x.depth} deep>`
                : Buffer.isBuffer(x)
                  ? `bytes ${x.toString('hex').slice(0, 40)}`
                  : x,
            );
  return text === undefined ? String(v) : text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/* ------------------------------------------------------------------ */
/* The gRPC methods.                                                    */
/* ------------------------------------------------------------------ */

interface GrpcField {
  kind: Kind;
  required?: boolean;
}
type GrpcFields = Record<string, GrpcField>;

function grpcMethods(fx: Fixtures): Record<string, GrpcFields> {
  const name = nameKind(true);
  const optName = nameKind(false);
  const runId = uuidKind(() => fx.runId);
  const workerId = uuidKind(() => fx.workerId);
  const leaseToken = uuidKind(() => fx.leaseToken);
  const scheduleId: Kind = { ...name, valid: fc.constant(fx.scheduleId) };
  const ns = { kind: { ...name, valid: fc.constant('default') }, required: true };
  const req = (kind: Kind): GrpcField => ({ kind, required: true });
  const opt = (kind: Kind): GrpcField => ({ kind });
  const leaseKind: Kind = {
    valid: fc.record({
      namespace: fc.constant('default'),
      runId: fc.constant(fx.runId),
      workerId: fc.constant(fx.workerId),
      leaseEpoch: fc.integer({ min: 1, max: 1000 }),
      leaseToken: fc.constant(fx.leaseToken),
    }),
    badBody: fc.constant(null),
    badGrpc: fc.oneof(
      fc.constant(undefined),
      wrongWireForMessage,
      ...(
        [
          ['namespace', name.badGrpc],
          ['runId', runId.badGrpc],
          ['workerId', workerId.badGrpc],
          ['leaseEpoch', fc.oneof(fc.integer({ min: -1000, max: 0 }), wrongWireForNumber)],
          ['leaseToken', leaseToken.badGrpc],
        ] as Array<[string, fc.Arbitrary<unknown>]>
      ).map(([key, bad]) =>
        bad.map((v) => ({
          namespace: 'default',
          runId: fx.runId,
          workerId: fx.workerId,
          leaseEpoch: 1,
          leaseToken: fx.leaseToken,
          [key]: v,
        })),
      ),
    ),
  };
  const lease = { kind: leaseKind, required: true };
  const seq = opt(intKind(0, 1_000_000));
  const pageToken = (bad: fc.Arbitrary<string>) => opt(tokenKind(bad));
  const payload = opt(payloadKind());
  const runStatus = enumKind(['PENDING', 'RUNNING', 'SLEEPING', 'COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED']);
  return {
    'WorkflowService/Start': {
      namespace: ns,
      workflowType: req(name),
      queue: opt(optName),
      input: payload,
      externalId: opt(optName),
      retry: opt(retryKind()),
      timeoutMs: opt(durationKind(LIMITS.maxRunTimeoutMs, { zeroInvalid: true })),
      correlationId: opt(optName),
      traceId: opt(optName),
      priority: opt(intKind(FLOW_CONTROL.priority.min, FLOW_CONTROL.priority.max)),
      concurrency: opt(concurrencyKind()),
    },
    // Each item is checked as a lone Start and answered in its own outcome (start-many.spec.ts); the call
    // itself is refused only for its list: missing, empty, over the limit, or not messages.
    'WorkflowService/StartMany': {
      starts: req({
        valid: fc.array(fc.record({ namespace: fc.constant('default'), workflowType: validName }), {
          minLength: 1,
          maxLength: 3,
        }),
        badBody: fc.constant([]),
        badGrpc: fc.oneof(
          fc.constant([]),
          fc.constant(
            Array.from({ length: LIMITS.startManyItems + 1 }, () => ({ namespace: 'default', workflowType: 'wf' })),
          ),
          wrongWireForMessage,
        ),
      }),
    },
    'WorkflowService/Get': { namespace: ns, runId: req(runId) },
    'WorkflowService/List': {
      namespace: ns,
      status: opt(runStatus),
      workflowType: opt(optName),
      queue: opt(optName),
      pageSize: opt(intKind(1, LIMITS.runsPage.max, { zeroMeansDefault: true })),
      pageToken: pageToken(runsTokenBad),
      parentRunId: opt(optionalUuid(runId)),
    },
    'WorkflowService/Cancel': { namespace: ns, runId: req(runId) },
    'WorkflowService/Terminate': { namespace: ns, runId: req(runId), reason: req(reasonKind(true)) },
    'WorkflowService/Retry': { namespace: ns, runId: req(runId), reason: opt(reasonKind(false)) },
    'WorkflowService/Reset': { namespace: ns, runId: req(runId), stepId: req(name), reason: opt(reasonKind(false)) },
    'WorkflowService/ListHistory': {
      namespace: ns,
      runId: req(runId),
      pageSize: opt(intKind(1, OPERATOR_LIMITS.historyPage.max, { zeroMeansDefault: true })),
      pageToken: pageToken(historyTokenBad),
    },
    'WorkflowService/Delete': { namespace: ns, runId: req(runId) },
    'WorkflowService/ListSteps': {
      namespace: ns,
      runId: req(runId),
      pageSize: opt(intKind(1, LIMITS.stepsPage.max, { zeroMeansDefault: true })),
      pageToken: pageToken(stepsTokenBad),
    },
    'WorkflowService/WaitResult': { namespace: ns, runId: req(runId), waitMs: opt(durationKind(LIMITS.maxWaitMs)) },
    // By run id here (externalId beside it would be refused as naming the run twice): see signals.spec.ts.
    'WorkflowService/Signal': { namespace: ns, runId: req(runId), name: req(name), payload },
    'WorkerService/Register': {
      namespace: ns,
      queue: opt(optName),
      workflowTypes: req(listKind(name, { required: true, max: LIMITS.workflowTypesPerWorker })),
      maxConcurrent: opt(intKind(1, LIMITS.maxConcurrent, { zeroMeansDefault: true })),
      typeConcurrency: opt(mapKind('int')),
      hostname: opt(optName),
      pid: opt(intKind(0, 2 ** 31 - 1)),
      version: opt(optName),
      labels: opt(mapKind('text')),
    },
    'WorkerService/Heartbeat': { namespace: ns, workerId: req(workerId), activeRunIds: opt(listKind(runId)) },
    'WorkerService/Deregister': { namespace: ns, workerId: req(workerId), drain: opt(boolKind) },
    'WorkerService/PollTask': {
      namespace: ns,
      queue: req(name),
      workerId: req(workerId),
      workflowTypes: opt(listKind(name)),
      maxTasks: opt(intKind(1, LIMITS.pollMaxTasks, { zeroMeansDefault: true })),
    },
    // Each call is checked as its lone RPC and answered in its own outcome (worker-batch.spec.ts); the call
    // itself is refused only for its list: missing, empty, over the limit, or not messages.
    'WorkerService/Batch': {
      calls: req({
        // Leases that do not hold (a wrong epoch at most): each call is answered with its own error, nothing changes.
        valid: fc.array(
          leaseKind.valid.map((lease) => ({ completeWorkflow: { lease } })),
          { minLength: 1, maxLength: 3 },
        ),
        badBody: fc.constant([]),
        badGrpc: fc.oneof(
          fc.constant([]),
          fc.constant(Array.from({ length: LIMITS.workerBatchCalls + 1 }, () => ({ beginStep: {} }))),
          wrongWireForMessage,
        ),
      }),
    },
    'WorkerService/WatchCancellations': { namespace: ns, workerId: req(workerId) },
    'WorkerService/BeginStep': { lease, stepId: req(name), seq },
    'WorkerService/CompleteStep': { lease, stepId: req(name), seq, output: payload },
    'WorkerService/FailStep': { lease, stepId: req(name), seq, error: opt(errorKind()), retry: opt(retryKind()) },
    'WorkerService/Sleep': { lease, stepId: req(name), seq, durationMs: opt(durationKind(LIMITS.maxSleepMs)) },
    'WorkerService/WaitForSignal': {
      lease,
      stepId: req(name),
      seq,
      name: req(name),
      timeoutMs: opt(durationKind(LIMITS.maxSleepMs)),
    },
    'WorkerService/StartChild': {
      lease,
      stepId: req(name),
      seq,
      workflowType: req(name),
      input: payload,
      queue: opt(optName),
      retry: opt(retryKind()),
      timeoutMs: opt(durationKind(LIMITS.maxRunTimeoutMs, { zeroInvalid: true })),
      externalId: opt(optName),
      cancelWithParent: opt(boolKind),
      park: opt(boolKind),
      awaiting: opt(listKind(name, { max: CHILD_LIMITS.maxAwaiting })),
    },
    'WorkerService/CompleteWorkflow': { lease, output: payload },
    'WorkerService/FailWorkflow': { lease, error: opt(errorKind()) },
    'ScheduleService/Create': {
      namespace: ns,
      scheduleId: req(name),
      workflowType: req(name),
      queue: opt(optName),
      cron: req(cronKind),
      timezone: opt(timezoneKind),
      input: payload,
      maxCatchup: opt(intKind(LIMITS.maxCatchup.min, LIMITS.maxCatchup.max)),
      paused: opt(boolKind),
    },
    'ScheduleService/Get': { namespace: ns, scheduleId: req(scheduleId) },
    'ScheduleService/List': {
      namespace: ns,
      workflowType: opt(optName),
      pageSize: opt(intKind(1, LIMITS.schedulesPage.max, { zeroMeansDefault: true })),
      pageToken: pageToken(schedulesTokenBad),
    },
    'ScheduleService/Update': {
      namespace: ns,
      scheduleId: req(scheduleId),
      cron: opt({ ...cronKind, badGrpc: cronKind.badGrpc.filter((v) => v !== '') }),
      timezone: opt(timezoneKind),
      workflowType: opt(optName),
      queue: opt(optName),
      input: payload,
      maxCatchup: opt(intKind(LIMITS.maxCatchup.min, LIMITS.maxCatchup.max)),
    },
    'ScheduleService/Pause': { namespace: ns, scheduleId: req(scheduleId) },
    'ScheduleService/Resume': { namespace: ns, scheduleId: req(scheduleId) },
    'ScheduleService/Delete': { namespace: ns, scheduleId: req(scheduleId) },
    'ScheduleService/Trigger': { namespace: ns, scheduleId: req(scheduleId) },
    'AdminService/ListWorkers': {
      namespace: ns,
      queue: opt(optName),
      status: opt(enumKind(['ONLINE', 'DRAINING', 'OFFLINE'])),
      pageSize: opt(intKind(1, LIMITS.workersPage.max, { zeroMeansDefault: true })),
    },
    'AdminService/GetWorker': { namespace: ns, workerId: req(workerId) },
    'AdminService/DrainWorker': { namespace: ns, workerId: req(workerId) },
    'AdminService/CreateApiKey': {
      name: req(name),
      namespaces: req(listKind(name, { required: true, max: API_KEYS.maxNamespaces })),
      roles: req(listKind(enumKind([...ROLES]), { required: true, max: ROLES.length })),
    },
    // Every value of its one field (a bool) is valid: nothing to break but the bytes.
    'AdminService/ListApiKeys': {},
    'AdminService/RevokeApiKey': { keyId: req(uuidKind(() => fx.runId)) },
    'AdminService/QueueStats': { namespace: ns, queue: req(name) },
    'AdminService/ListQueues': { namespace: ns },
    // By queue (workflowType beside it would name the target twice).
    'AdminService/SetRateLimit': {
      namespace: ns,
      queue: req(name),
      limit: req(intKind(FLOW_CONTROL.rateLimit.min, FLOW_CONTROL.rateLimit.max)),
      periodMs: req(ratePeriodKind()),
    },
    'AdminService/ListRateLimits': { namespace: ns },
    'AdminService/DeleteRateLimit': { namespace: ns, queue: req(name) },
    'AdminService/Health': {},
    'AdminService/ServerInfo': {},
  };
}

interface GrpcCase {
  method: string;
  bytes: Buffer;
  expect: string[] | null;
  /** Methods without input (Health, ServerInfo) may answer garbage that decodes. */
  mayPass: boolean;
  what: string;
}

/** Whole-message garbage: each piece is malformed protobuf on its own. */
const malformedTail = fc.oneof(
  fc.constant(Buffer.from([0x0b, 0x0c])), // a group (wire type 3), gone from proto3
  fc.constant(Buffer.from([0x0c])), // an end-group with no start
  fc.constant(Buffer.from([0x0a, 0x7f, 0x61])), // length runs past the end
  fc.constant(Buffer.from([0x00, 0x01])), // field number 0
  fc.constant(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), // varint of 11 bytes
  fc.constant(Buffer.from([0x0e, 0x01])), // wire type 6
  fc.constant(Buffer.from([0x09, 0x01, 0x02])), // fixed64 cut short
  fc.constant(Buffer.from([0xfa, 0xff, 0xff, 0xff, 0x0f])), // a tag with no value after it
);

function grpcCases(method: string, fields: GrpcFields, fx: Fixtures): fc.Arbitrary<GrpcCase> {
  const type = METHODS.get(method)!.requestType.type;
  const names = Object.keys(fields);
  const valid = (f: GrpcField) => f.kind.grpcValid ?? f.kind.valid;
  const base = fc.tuple(
    ...names.map((n) =>
      fields[n]!.required ? valid(fields[n]!) : fc.option(valid(fields[n]!), { nil: undefined, freq: 3 }),
    ),
  );
  const objectOf = (vs: unknown[]) => Object.fromEntries(names.map((n, i) => [n, vs[i]]));
  const encode = (value: Record<string, unknown>) => {
    // JSON payload values are carried as bytes.
    for (const key of ['input', 'output']) {
      const p = value[key] as { data?: unknown } | undefined;
      if (p && !(p instanceof RawField) && p.data !== undefined && !Buffer.isBuffer(p.data)) {
        value[key] = { data: Buffer.from(JSON.stringify(p.data)), encoding: 'json' };
      }
    }
    return encodeMessage(type, value);
  };
  const mutations: Array<fc.Arbitrary<GrpcCase>> = [];
  for (const n of names) {
    const f = fields[n]!;
    mutations.push(
      fc.tuple(base, f.kind.badGrpc).map(([vs, bad]) => {
        const value = objectOf(vs);
        value[n] = bad;
        return { method, bytes: encode(value), expect: [n], mayPass: false, what: `${n} = ${show(bad)}` };
      }),
    );
  }
  // Raw garbage after a valid request; random bytes with a refused field after them.
  const refused = names.includes('namespace')
    ? encodeMessage(type, { namespace: 'bad\u0000namespace' })
    : names.includes('lease')
      ? encodeMessage(type, {
          lease: {
            namespace: 'bad\u0000namespace',
            runId: fx.runId,
            workerId: fx.workerId,
            leaseEpoch: 1,
            leaseToken: fx.leaseToken,
          },
        })
      : names.includes('calls')
        ? // As for StartMany: appended calls put the list over the limit.
          encodeMessage(type, {
            calls: Array.from({ length: 2 * LIMITS.workerBatchCalls }, () => ({ beginStep: {} })),
          })
        : names.includes('starts')
          ? // Appended items join the list: over the limit whatever came before, even if random bytes before
            // them swallow the first.
            encodeMessage(type, {
              starts: Array.from({ length: 2 * LIMITS.startManyItems }, () => ({
                namespace: 'default',
                workflowType: 'wf',
              })),
            })
          : names.includes('keyId')
            ? encodeMessage(type, { keyId: 'not-a-uuid' })
            : names.includes('roles')
              ? encodeMessage(type, { name: 'bad\u0000name' })
              : Buffer.alloc(0);
  const mayPass = names.length === 0;
  mutations.push(
    fc.tuple(base, malformedTail).map(([vs, tail]) => ({
      method,
      bytes: Buffer.concat([encode(objectOf(vs)), tail]),
      expect: null,
      mayPass: false,
      what: `trailing garbage ${tail.toString('hex')}`,
    })),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => ({
      method,
      bytes: Buffer.concat([Buffer.from(b), refused]),
      expect: null,
      mayPass,
      what: `random bytes ${Buffer.from(b).toString('hex')}`,
    })),
  );
  if (names.length) {
    // Unknown field numbers are skipped (protobuf's rule), but never hide a bad field.
    mutations.push(
      fc.tuple(base, fc.integer({ min: 100, max: 10_000 }), fc.uint8Array({ maxLength: 8 })).map(([vs, num, b]) => {
        const value = objectOf(vs);
        value[EXTRA] = ld(num, Buffer.from(b));
        return {
          method,
          bytes: Buffer.concat([encode(value), refused]),
          expect: null,
          mayPass: false,
          what: `unknown field ${num}`,
        };
      }),
    );
  }
  return fc.oneof(...mutations);
}

/* ------------------------------------------------------------------ */
/* HTTP and gRPC side by side: same bad value, same code and field.     */
/* ------------------------------------------------------------------ */

interface ParityCase {
  http: HttpCase;
  grpc: GrpcCase;
}

interface ParitySlot {
  route: string;
  method: string;
  /** HTTP field name → gRPC path into the request object. */
  httpField: string;
  grpcPath: string[];
  at: 'path' | 'query' | 'body';
  bad: fc.Arbitrary<string | number>;
}

function paritySlots(): ParitySlot[] {
  const textBad = fc.oneof(loneSurrogate, withNul, tooLong);
  const pathBad = fc.oneof(withNul, tooLong).filter(segmentSafe);
  const uuidBad = fc.oneof(
    ascii(1, 30).filter((s) => !isUuidText(s) && segmentSafe(s) && !s.includes('/')),
    withNul,
  );
  const slot = (
    route: string,
    method: string,
    httpField: string,
    grpcPath: string[],
    at: ParitySlot['at'],
    bad: ParitySlot['bad'],
  ): ParitySlot => ({
    route,
    method,
    httpField,
    grpcPath,
    at,
    bad,
  });
  return [
    slot('start', 'WorkflowService/Start', 'workflowType', ['workflowType'], 'body', textBad),
    slot('start', 'WorkflowService/Start', 'queue', ['queue'], 'body', textBad),
    slot('start', 'WorkflowService/Start', 'externalId', ['externalId'], 'body', textBad),
    slot('start', 'WorkflowService/Start', 'correlationId', ['correlationId'], 'body', textBad),
    slot(
      'start',
      'WorkflowService/Start',
      'timeoutMs',
      ['timeoutMs'],
      'body',
      fc.oneof(negative, fc.integer({ min: LIMITS.maxRunTimeoutMs + 1, max: 2 * LIMITS.maxRunTimeoutMs })),
    ),
    slot('start', 'WorkflowService/Start', 'namespace', ['namespace'], 'path', pathBad),
    slot('get run', 'WorkflowService/Get', 'runId', ['runId'], 'path', uuidBad),
    slot('list runs', 'WorkflowService/List', 'pageToken', ['pageToken'], 'query', runsTokenBad),
    slot(
      'list runs',
      'WorkflowService/List',
      'status',
      ['status'],
      'query',
      ascii(1, 8).filter((s) => !/^(PENDING|RUNNING|SLEEPING|COMPLETED|FAILED|CANCELLED|TERMINATED)$/.test(s)),
    ),
    slot(
      'list runs',
      'WorkflowService/List',
      'pageSize',
      ['pageSize'],
      'query',
      fc.integer({ min: LIMITS.runsPage.max + 1, max: 1e6 }),
    ),
    slot('list steps', 'WorkflowService/ListSteps', 'pageToken', ['pageToken'], 'query', stepsTokenBad),
    slot('terminate run', 'WorkflowService/Terminate', 'reason', ['reason'], 'body', fc.oneof(loneSurrogate, withNul)),
    slot('reset run', 'WorkflowService/Reset', 'stepId', ['stepId'], 'body', textBad),
    slot('run history', 'WorkflowService/ListHistory', 'pageToken', ['pageToken'], 'query', historyTokenBad),
    slot(
      'wait result',
      'WorkflowService/WaitResult',
      'waitMs',
      ['waitMs'],
      'query',
      fc.integer({ min: LIMITS.maxWaitMs + 1, max: 1e9 }),
    ),
    slot('create schedule', 'ScheduleService/Create', 'scheduleId', ['scheduleId'], 'body', textBad),
    slot(
      'create schedule',
      'ScheduleService/Create',
      'cron',
      ['cron'],
      'body',
      fc.constantFrom('x', '* * *', '61 * * * *'),
    ),
    slot(
      'create schedule',
      'ScheduleService/Create',
      'timezone',
      ['timezone'],
      'body',
      fc.constantFrom('Mars/Phobos', 'UTC+99'),
    ),
    slot(
      'create schedule',
      'ScheduleService/Create',
      'maxCatchup',
      ['maxCatchup'],
      'body',
      fc.integer({ min: LIMITS.maxCatchup.max + 1, max: 1e7 }),
    ),
    slot('list schedules', 'ScheduleService/List', 'pageToken', ['pageToken'], 'query', schedulesTokenBad),
    slot('update schedule', 'ScheduleService/Update', 'cron', ['cron'], 'body', fc.constantFrom('x', '* * *')),
    slot('get schedule', 'ScheduleService/Get', 'scheduleId', ['scheduleId'], 'path', pathBad),
    slot('register worker', 'WorkerService/Register', 'queue', ['queue'], 'body', textBad),
    slot('register worker', 'WorkerService/Register', 'hostname', ['hostname'], 'body', textBad),
    slot(
      'register worker',
      'WorkerService/Register',
      'maxConcurrent',
      ['maxConcurrent'],
      'body',
      fc.integer({ min: LIMITS.maxConcurrent + 1, max: 1e7 }),
    ),
    slot('heartbeat', 'WorkerService/Heartbeat', 'workerId', ['workerId'], 'path', uuidBad),
    slot('poll', 'WorkerService/PollTask', 'queue', ['queue'], 'body', textBad),
    slot('begin step', 'WorkerService/BeginStep', 'stepId', ['stepId'], 'path', pathBad),
    slot('begin step', 'WorkerService/BeginStep', 'runId', ['lease', 'runId'], 'path', uuidBad),
    slot('begin step', 'WorkerService/BeginStep', 'workerId', ['lease', 'workerId'], 'body', uuidBad),
    slot('complete workflow', 'WorkerService/CompleteWorkflow', 'leaseToken', ['lease', 'leaseToken'], 'body', uuidBad),
    slot(
      'begin step',
      'WorkerService/BeginStep',
      'leaseEpoch',
      ['lease', 'leaseEpoch'],
      'body',
      fc.integer({ min: -1000, max: 0 }),
    ),
    slot(
      'sleep',
      'WorkerService/Sleep',
      'durationMs',
      ['durationMs'],
      'body',
      fc.oneof(negative, fc.integer({ min: LIMITS.maxSleepMs + 1, max: 2 * LIMITS.maxSleepMs })),
    ),
    slot('sleep', 'WorkerService/Sleep', 'stepId', ['stepId'], 'body', textBad),
    slot('fail workflow', 'WorkerService/FailWorkflow', 'runId', ['lease', 'runId'], 'path', uuidBad),
    slot('signal', 'WorkflowService/Signal', 'name', ['name'], 'body', textBad),
    slot('signal', 'WorkflowService/Signal', 'runId', ['runId'], 'path', uuidBad),
    slot('wait for signal', 'WorkerService/WaitForSignal', 'name', ['name'], 'body', textBad),
    slot(
      'wait for signal',
      'WorkerService/WaitForSignal',
      'timeoutMs',
      ['timeoutMs'],
      'body',
      fc.oneof(negative, fc.integer({ min: LIMITS.maxSleepMs + 1, max: 2 * LIMITS.maxSleepMs })),
    ),
    slot('get worker', 'AdminService/GetWorker', 'workerId', ['workerId'], 'path', uuidBad),
    slot('queue stats', 'AdminService/QueueStats', 'queue', ['queue'], 'path', pathBad),
    slot(
      'list workers',
      'AdminService/ListWorkers',
      'status',
      ['status'],
      'query',
      ascii(1, 8).filter((s) => !/^(ONLINE|DRAINING|OFFLINE)$/.test(s)),
    ),
  ];
}

function parityCases(fx: Fixtures, allRoutes: Route[], methods: Record<string, GrpcFields>): fc.Arbitrary<ParityCase> {
  return fc.oneof(
    ...paritySlots().map((slot) => {
      const route = allRoutes.find((r) => r.name === slot.route)!;
      const fields = methods[slot.method]!;
      const type = METHODS.get(slot.method)!.requestType.type;
      const lease = {
        namespace: 'default',
        runId: fx.runId,
        workerId: fx.workerId,
        leaseEpoch: 1,
        leaseToken: fx.leaseToken,
      };
      return slot.bad.map((bad) => {
        // One valid request, the same on both sides, with the one bad value.
        const values = new Map<Field, unknown>();
        const grpc: Record<string, unknown> = {};
        for (const f of route.fields) {
          const fixed = fixedValid(f.name, fx);
          if (f.at === 'path' || f.required) values.set(f, fixed);
          if (f.name === slot.httpField) values.set(f, bad);
        }
        for (const [n, f] of Object.entries(fields)) {
          if (n === 'lease') grpc.lease = { ...lease };
          else if (f.required) grpc[n] = fixedValid(n, fx);
        }
        let target = grpc;
        for (const key of slot.grpcPath.slice(0, -1)) target = target[key] as Record<string, unknown>;
        target[slot.grpcPath.at(-1)!] = bad;
        const what = `${slot.route} / ${slot.method}: ${slot.httpField} = ${show(bad)}`;
        return {
          http: { ...buildHttp(route, values, []), expect: null, what },
          grpc: { method: slot.method, bytes: encodeMessage(type, grpc), expect: null, mayPass: false, what },
        };
      });
    }),
  );
}

function fixedValid(name: string, fx: Fixtures): unknown {
  switch (name) {
    case 'namespace':
      return 'default';
    case 'runId':
      return fx.runId;
    case 'workerId':
      return fx.workerId;
    case 'scheduleId':
      return fx.scheduleId;
    case 'leaseEpoch':
      return 1;
    case 'leaseToken':
      return fx.leaseToken;
    case 'cron':
      return '* * * * *';
    case 'workflowTypes':
      return ['t'];
    default:
      return 'ok-name';
  }
}

/* ------------------------------------------------------------------ */
/* Sending and judging.                                                 */
/* ------------------------------------------------------------------ */

interface Outcome {
  /** HTTP status, or gRPC status code. */
  status: number;
  code: string | null;
  field: string | null;
  message: string;
}

async function sendHttp(base: string, c: HttpCase): Promise<Outcome> {
  const res = await fetch(`${base}${c.url}`, {
    method: c.method,
    headers: c.body === undefined ? {} : { 'content-type': 'application/json' },
    body: c.body,
  });
  const text = await res.text();
  let parsed: { error?: { code?: string; field?: string; message?: string } } = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // Judged below: an error without the error model is a failure.
  }
  return {
    status: res.status,
    code: parsed.error?.code ?? null,
    field: parsed.error?.field ?? null,
    message: parsed.error?.message ?? text.slice(0, 200),
  };
}

function sendGrpc(client: GrpcClient, c: GrpcCase): Promise<Outcome> {
  const path = `/${PROTO_PACKAGE}.${c.method}`;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      c.bytes,
      new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null) => {
        if (!err) return resolve({ status: GrpcStatus.OK, code: null, field: null, message: '' });
        const meta = (key: string) => {
          const v = err.metadata?.get(key)?.[0];
          return typeof v === 'string' ? v : null;
        };
        resolve({
          status: err.code,
          code: meta(GRPC_ERROR_METADATA.code),
          field: meta(GRPC_ERROR_METADATA.field),
          message: err.details,
        });
      },
    );
  });
}

const fieldMatches = (field: string | null, expect: string[] | null) =>
  !!field &&
  (expect === null || expect.some((e) => field === e || field.startsWith(`${e}.`) || field.startsWith(`${e}[`)));

function judgeHttp(c: HttpCase, o: Outcome): string | null {
  const refused =
    (o.status === 400 || o.status === 413) && (o.code === 'INVALID_ARGUMENT' || o.code === 'PAYLOAD_TOO_LARGE');
  if (refused && fieldMatches(o.field, c.expect)) return null;
  return `HTTP ${c.method} ${c.url.slice(0, 160)} [${c.what}] → ${o.status} ${o.code} field=${o.field} expected ${c.expect?.join('|') ?? 'any field'}: ${o.message.slice(0, 200)}`;
}

function judgeGrpc(c: GrpcCase, o: Outcome): string | null {
  if (c.mayPass && o.status === GrpcStatus.OK) return null;
  if (o.status === GrpcStatus.INVALID_ARGUMENT && fieldMatches(o.field, c.expect)) return null;
  return `gRPC ${c.method} [${c.what}] → status ${o.status} ${o.code} field=${o.field} expected ${c.expect?.join('|') ?? 'any field'}: ${o.message.slice(0, 200)}`;
}

/* ------------------------------------------------------------------ */

describe('Fuzz: malformed requests are refused, naming the field (invariant 11)', () => {
  let h: TestHarness;
  let grpc: GrpcClient;
  let fx: Fixtures;
  let counts: Record<string, number>;
  const sent = { http: 0, grpc: 0 };
  const started = Date.now();

  const rowCounts = async () =>
    (
      await h.query(
        `SELECT (SELECT count(*) FROM workflow_runs)::int AS runs, (SELECT count(*) FROM step_runs)::int AS steps,
                (SELECT count(*) FROM schedules)::int AS schedules, (SELECT count(*) FROM workers)::int AS workers,
                (SELECT count(*) FROM run_signals)::int AS signals,
                (SELECT count(*) FROM run_history)::int AS history`,
      )
    )[0]!;

  beforeAll(async () => {
    h = await TestHarness.start();
    grpc = new GrpcClient(h.grpcAddress, credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
    // Real rows for the requests to aim at: a run nobody polls, a paused schedule, a worker.
    const run = await h.client().start('fuzz-idle', { x: 1 }, { queue: 'fuzz-idle' });
    const schedule = await h.client().schedules.create({
      scheduleId: 'fuzz-schedule',
      workflowType: 'fuzz-idle',
      cron: '0 0 1 1 *',
      paused: true,
    });
    const worker = await h
      .http()
      .post('/v1/namespaces/default/workers')
      .send({ queue: 'fuzz-idle-workers', workflowTypes: ['fuzz-idle'] })
      .expect(201);
    fx = { runId: run.id, workerId: worker.body.workerId, scheduleId: schedule.scheduleId, leaseToken: randomUUID() };
    counts = await rowCounts();
  }, 60_000);

  afterAll(async () => {
    grpc?.close();
    await h?.stop();
    console.log(
      `fuzz: ${sent.http} HTTP + ${sent.grpc} gRPC = ${sent.http + sent.grpc} requests in ${((Date.now() - started) / 1000).toFixed(1)} s (seed ${SEED})`,
    );
  });

  /** FUZZ_SURVEY=1: run everything, then list every distinct failure (a debugging aid; no shrinking). */
  const survey = process.env.FUZZ_SURVEY === '1' ? new Set<string>() : null;

  async function batch<C>(cases: C[], send: (c: C) => Promise<string | null>): Promise<void> {
    const failures = (await Promise.all(cases.map(send))).filter((f): f is string => f !== null);
    if (survey) for (const f of failures) survey.add(f);
    else if (failures.length) {
      throw new Error(`${failures.length} of ${cases.length} refused wrongly (seed ${SEED}):\n${failures.join('\n')}`);
    }
  }

  afterEach(() => {
    if (survey?.size) {
      const list = [...survey];
      survey.clear();
      throw new Error(`${list.length} failures:\n${list.slice(0, 300).join('\n')}`);
    }
  });

  test('every HTTP route and every gRPC method is covered', async () => {
    const docs = (await h.http().get('/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    const served = Object.entries(docs.paths)
      .filter(([p]) => p.startsWith('/v1'))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`))
      .sort();
    const covered = routes(fx)
      .map((r) => `${r.method} ${r.path}`)
      .sort();
    expect(covered).toEqual(served);
    expect(Object.keys(grpcMethods(fx)).sort()).toEqual([...METHODS.keys()].sort());
  });

  test('HTTP: thousands of malformed requests, each a 4xx naming the field', async () => {
    const arb = fc.oneof(
      ...routes(fx)
        .filter((r) => r.fields.length)
        .map(httpCases),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(arb, { minLength: IN_FLIGHT, maxLength: IN_FLIGHT }), (cases) =>
        batch(cases, async (c) => {
          sent.http++;
          return judgeHttp(c, await sendHttp(h.httpUrl, c));
        }),
      ),
      { seed: SEED, numRuns: HTTP_BATCHES },
    );
    expect(await rowCounts()).toEqual(counts);
  }, 120_000);

  test('gRPC: thousands of malformed messages, each INVALID_ARGUMENT naming the field', async () => {
    const methods = grpcMethods(fx);
    const arb = fc.oneof(...Object.entries(methods).map(([m, fields]) => grpcCases(m, fields, fx)));
    await fc.assert(
      fc.asyncProperty(fc.array(arb, { minLength: IN_FLIGHT, maxLength: IN_FLIGHT }), (cases) =>
        batch(cases, async (c) => {
          sent.grpc++;
          return judgeGrpc(c, await sendGrpc(grpc, c));
        }),
      ),
      { seed: SEED + 1, numRuns: GRPC_BATCHES },
    );
    expect(await rowCounts()).toEqual(counts);
  }, 120_000);

  test('HTTP and gRPC refuse the same bad value with the same code and field', async () => {
    const arb = parityCases(fx, routes(fx), grpcMethods(fx));
    await fc.assert(
      fc.asyncProperty(fc.array(arb, { minLength: IN_FLIGHT / 2, maxLength: IN_FLIGHT / 2 }), (cases) =>
        batch(cases, async (c) => {
          sent.http++;
          sent.grpc++;
          const [viaHttp, viaGrpc] = await Promise.all([sendHttp(h.httpUrl, c.http), sendGrpc(grpc, c.grpc)]);
          const problem = judgeHttp(c.http, viaHttp) ?? judgeGrpc(c.grpc, viaGrpc);
          if (problem) return problem;
          if (viaHttp.code !== viaGrpc.code || viaHttp.field !== viaGrpc.field) {
            return `[${c.http.what}] HTTP ${viaHttp.code} field=${viaHttp.field} but gRPC ${viaGrpc.code} field=${viaGrpc.field}`;
          }
          return null;
        }),
      ),
      { seed: SEED + 2, numRuns: PARITY_BATCHES },
    );
    expect(await rowCounts()).toEqual(counts);
  }, 120_000);

  test('the fuzz run sent at least 10,000 requests', () => {
    // (Only meaningful when the whole file ran, at full scale.)
    if (SCALE >= 1 && sent.http > 0 && sent.grpc > 0) expect(sent.http + sent.grpc).toBeGreaterThanOrEqual(10_000);
  });
});
