import { BatonError } from '@baton/contracts';
import type { CallHandler, ExecutionContext } from '@nestjs/common';
import { of } from 'rxjs';
import { GrpcDecodeErrorInterceptor, guardRequestDecoding } from './grpc-decoding';

/*
 * The request guard on a small hand-written package definition (the shape
 * proto-loader produces): strings, numbers, a map, a nested message, and a
 * free-text message whose strings are let through whatever they hold.
 */

const field = (
  name: string,
  number: number,
  type: string,
  extra: Partial<{ label: string; typeName: string }> = {},
) => ({
  name,
  number,
  type,
  label: extra.label ?? 'LABEL_OPTIONAL',
  typeName: extra.typeName ?? '',
});

const ErrorInfo = { name: 'ErrorInfo', field: [field('message', 1, 'TYPE_STRING')], nestedType: [] };
const Lease = {
  name: 'Lease',
  field: [field('runId', 1, 'TYPE_STRING'), field('epoch', 2, 'TYPE_INT32')],
  nestedType: [],
};
const Request = {
  name: 'Request',
  field: [
    field('name', 1, 'TYPE_STRING'),
    field('count', 2, 'TYPE_INT32'),
    field('tags', 3, 'TYPE_STRING', { label: 'LABEL_REPEATED' }),
    field('labels', 4, 'TYPE_MESSAGE', { label: 'LABEL_REPEATED', typeName: 'LabelsEntry' }),
    field('lease', 5, 'TYPE_MESSAGE', { typeName: 'Lease' }),
    field('error', 6, 'TYPE_MESSAGE', { typeName: 'ErrorInfo' }),
    field('data', 7, 'TYPE_BYTES'),
  ],
  nestedType: [
    {
      name: 'LabelsEntry',
      field: [field('key', 1, 'TYPE_STRING'), field('value', 2, 'TYPE_STRING')],
      nestedType: [],
      options: { mapEntry: true },
    },
  ],
};

function decoder(): (bytes: Buffer) => unknown {
  const method = {
    requestDeserialize: (bytes: Buffer) => ({ decoded: bytes.length }),
    requestType: { type: Request },
  };
  const definition: Record<string, unknown> = {
    'baton.v1.TestService': { Call: method },
    'baton.v1.Request': { type: Request },
    'baton.v1.Lease': { type: Lease },
    // Named in FREE_TEXT_MESSAGES.
    'baton.v1.ErrorInfo': { type: ErrorInfo },
  };
  guardRequestDecoding(definition);
  return method.requestDeserialize;
}

const varint = (n: number) => {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
};
const ld = (num: number, bytes: Buffer | string) => {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return Buffer.concat([varint(num * 8 + 2), varint(b.length), b]);
};
const LONE = Buffer.from([0xed, 0xa0, 0x80]); // "\ud800" as JavaScript protobuf encoders write it

/** Runs the decoder's output through the interceptor, as Nest would before the handler. */
function refusal(result: unknown): { field?: string; message: string } | null {
  const context = {
    getType: () => 'rpc',
    switchToRpc: () => ({ getData: () => result }),
  } as unknown as ExecutionContext;
  const next: CallHandler = { handle: () => of('handled') };
  try {
    new GrpcDecodeErrorInterceptor().intercept(context, next);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(BatonError);
    return { field: (err as BatonError).field, message: (err as BatonError).message };
  }
}

describe('guardRequestDecoding', () => {
  const decode = decoder();

  it('decodes a well-formed request as before, skipping unknown fields', () => {
    const bytes = Buffer.concat([ld(1, 'name 😀'), Buffer.from([0x10, 0x05]), ld(99, 'future field'), ld(7, LONE)]);
    expect(decode(bytes)).toEqual({ decoded: bytes.length });
    expect(refusal(decode(bytes))).toBeNull();
  });

  it.each([
    ['a string that is not UTF-8', ld(1, LONE), 'name'],
    ['a stray byte', ld(1, Buffer.from([0x61, 0xff])), 'name'],
    ['a repeated string', Buffer.concat([ld(3, 'ok'), ld(3, LONE)]), 'tags[1]'],
    ['a map key', ld(4, ld(1, LONE)), 'labels'],
    ['a map value', ld(4, Buffer.concat([ld(1, 'env'), ld(2, LONE)])), 'labels.env'],
    ['a nested string', ld(5, ld(1, LONE)), 'lease.runId'],
    ['a string sent as a number', Buffer.from([0x08, 0x01]), 'name'],
    ['a number sent as bytes', ld(2, 'x'), 'count'],
    ['garbage inside a message', ld(5, Buffer.from([0x0a, 0x7f])), 'lease'],
  ])('refuses %s, naming the field', (_what, bytes, name) => {
    expect(refusal(decode(bytes))).toMatchObject({ field: name });
  });

  it.each([
    ['a length past the end', Buffer.from([0x0a, 0x7f, 0x61])],
    ['a proto2 group', Buffer.from([0x0b, 0x0c])],
    ['field number 0', Buffer.from([0x00, 0x01])],
    ['a varint of 11 bytes', Buffer.from([0x10, ...Array(10).fill(0xff), 0x01])],
    ['wire type 6', Buffer.from([0x0e])],
  ])('refuses %s as a malformed body', (_what, bytes) => {
    expect(refusal(decode(bytes))).toMatchObject({ field: 'body' });
  });

  it('lets free text (a worker error) through whatever bytes it holds', () => {
    expect(refusal(decode(ld(6, ld(1, LONE))))).toBeNull();
  });

  it('passes through non-rpc calls and requests without the marker', () => {
    const next: CallHandler = { handle: () => of('handled') };
    const http = { getType: () => 'http' } as unknown as ExecutionContext;
    expect(() => new GrpcDecodeErrorInterceptor().intercept(http, next)).not.toThrow();
    expect(refusal({ name: 'plain' })).toBeNull();
    expect(refusal(null)).toBeNull();
  });
});
