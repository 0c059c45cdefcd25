import type { Transport } from '@baton/sdk';

/** gRPC services by the SDK's short names. */
type Service = Parameters<Transport['call']>[0];

/**
 * One gRPC call by method name with any request, answered with whatever the
 * server sends. Transport.call types both ends from the proto; tests of the
 * protocol itself also send what a typed client never would (methods chosen
 * at run time, fields of the wrong type), and read the answer as they find it.
 */
export function rawCall(
  transport: Transport,
  service: Service,
  method: string,
  request: object,
  options?: { timeoutMs?: number; signal?: AbortSignal },
): Promise<RawReply> {
  const untyped = transport.call as unknown as (
    service: Service,
    method: string,
    request: object,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ) => Promise<RawReply>;
  return untyped.call(transport, service, method, request, options);
}

/** A reply as decoded, read field by field. */
export type RawReply = Record<string, unknown>;

/** A JSON payload as the gRPC messages carry it. */
export const jsonPayload = (value: unknown) => ({ data: Buffer.from(JSON.stringify(value)), encoding: 'json' });
