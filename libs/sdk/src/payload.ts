import { ENCODING_BINARY, ENCODING_JSON } from '@baton/contracts';
import type { Payload } from '@baton/proto';

/** JSON by default; Uint8Array/Buffer pass through as binary; undefined sends nothing. */
export function encodePayload(value: unknown): Payload | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return { data: value, encoding: ENCODING_BINARY };
  return { data: Buffer.from(JSON.stringify(value) ?? 'null', 'utf8'), encoding: ENCODING_JSON };
}

export function decodePayload<T = unknown>(payload: Payload | null | undefined): T {
  if (!payload) return undefined as T;
  const data = payload.data ? Buffer.from(payload.data) : Buffer.alloc(0);
  if (payload.encoding === ENCODING_BINARY) return data as unknown as T;
  if (data.length === 0) return undefined as T;
  return JSON.parse(data.toString('utf8')) as T;
}
