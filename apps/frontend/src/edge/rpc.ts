import type { Logger } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { SERVICES } from '@baton/proto';
import type {
  CallError,
  RequestOf,
  ResponseOf,
  ServiceName,
  StreamMessageOf,
  StreamMethod,
  UnaryMethod,
} from '@baton/proto';
import { toBatonError } from '@baton/runtime';
import type { Observable } from 'rxjs';

/*
 * `@GrpcMethod` bound to the generated service definitions: the decorated
 * method must take the RPC's request message (it may take the metadata and
 * the call after it) and answer with the RPC's response message, so a handler
 * can neither serve the wrong RPC nor answer with a shape the client does not
 * read. The request is still untrusted: see Untrusted in requests.ts.
 */

type Answer<T> = T | Promise<T>;

type UnaryHandler<S extends ServiceName, M extends UnaryMethod<S>> = (
  request: RequestOf<S, M>,
  ...rest: never[]
) => Answer<ResponseOf<S, M>>;

type StreamHandler<S extends ServiceName, M extends StreamMethod<S>> = (
  request: RequestOf<S, M>,
  ...rest: never[]
) => Answer<Observable<StreamMessageOf<S, M>>>;

/** Serves unary RPC `method` of `service`. */
export function Rpc<S extends ServiceName, M extends UnaryMethod<S>>(service: S, method: M) {
  return <H extends UnaryHandler<S, M>>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<H>,
  ) => {
    GrpcMethod(SERVICES[service], method)(target, key, descriptor);
  };
}

/** Serves server-streaming RPC `method` of `service`. */
export function RpcStream<S extends ServiceName, M extends StreamMethod<S>>(service: S, method: M) {
  return <H extends StreamHandler<S, M>>(
    target: object,
    key: string | symbol,
    descriptor: TypedPropertyDescriptor<H>,
  ) => {
    GrpcMethod(SERVICES[service], method)(target, key, descriptor);
  };
}

/** What a call would have failed with, as one item's outcome of a batch call (unknown errors: INTERNAL, logged). */
export function callErrorOf(err: unknown, logger: Logger): CallError {
  const { code, message, field, reason } = toBatonError(err, logger);
  return { code, message, field: field ?? '', reason: reason ?? '' };
}
