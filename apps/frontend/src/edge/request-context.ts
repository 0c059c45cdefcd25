import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { Metadata } from '@grpc/grpc-js';
import { LOGGING } from '@baton/contracts';
import { runWithLogFields } from '@baton/runtime';
import type { LogFields } from '@baton/runtime';
import type { Request, Response } from 'express';
import { Observable } from 'rxjs';
import { principalOf } from '../auth/principal';

/** The caller's id when it is short and plain (it lands in every log line of the call), else a new one. */
function requestIdFrom(value: unknown): string {
  return typeof value === 'string' && LOGGING.requestIdPattern.test(value) ? value : randomUUID();
}

const stringField = (source: unknown, name: string): string | undefined => {
  const value = typeof source === 'object' && source !== null ? (source as Record<string, unknown>)[name] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
};

/** The key the AuthGuard attached; none on public routes (health, docs). */
function keyIdOf(carrier: object): string | undefined {
  try {
    return principalOf(carrier).keyId;
  } catch {
    return undefined;
  }
}

function httpFields(context: ExecutionContext): LogFields {
  const http = context.switchToHttp();
  const request = http.getRequest<Request>();
  const requestId = requestIdFrom(request.headers[LOGGING.requestIdHeader]);
  // Echoed, so a caller can quote it when reporting a problem (and find a generated one).
  http.getResponse<Response>().setHeader(LOGGING.requestIdHeader, requestId);
  return {
    requestId,
    runId: stringField(request.params, 'runId'),
    workerId: stringField(request.params, 'workerId'),
    namespace: stringField(request.params, 'namespace'),
    keyId: keyIdOf(request),
  };
}

function grpcFields(metadata: Metadata, data: unknown): LogFields {
  const [sent] = metadata.get(LOGGING.requestIdHeader);
  return {
    requestId: requestIdFrom(sent),
    runId: stringField(data, 'runId'),
    workerId: stringField(data, 'workerId'),
    namespace: stringField(data, 'namespace'),
    keyId: keyIdOf(metadata),
  };
}

/**
 * Every line logged while serving an API call (HTTP or gRPC) carries its
 * request id (the caller's x-request-id, or a new one), the run, worker and
 * namespace it names, and the API key it came with. Runs after the AuthGuard,
 * so the key is known; messages between the apps on the bus are left alone.
 */
@Injectable()
export class RequestContextInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const fields = this.fieldsOf(context);
    if (!fields) return next.handle();
    // The handler runs when the stream is subscribed to, so that is where the context must be entered.
    return new Observable((subscriber) =>
      runWithLogFields(withoutEmpty(fields), () => next.handle().subscribe(subscriber)),
    );
  }

  private fieldsOf(context: ExecutionContext): LogFields | undefined {
    if (context.getType() === 'http') return httpFields(context);
    const rpc = context.switchToRpc();
    const metadata = rpc.getContext<unknown>();
    return metadata instanceof Metadata ? grpcFields(metadata, rpc.getData<unknown>()) : undefined;
  }
}

function withoutEmpty(fields: LogFields): LogFields {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}
