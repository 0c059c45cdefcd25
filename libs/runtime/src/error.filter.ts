import { Catch, HttpException, Logger } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import { Metadata } from '@grpc/grpc-js';
import {
  BatonError,
  ErrorCode,
  GRPC_ERROR_METADATA,
  RETRY_AFTER_METADATA,
  grpcStatusOf,
  httpStatusOf,
} from '@baton/contracts';
import type { Response } from 'express';
import { throwError } from 'rxjs';
import type { Observable } from 'rxjs';

/** Anything thrown at the edge becomes a BatonError; unknown errors are INTERNAL and logged. */
export function toBatonError(err: unknown, logger: Logger): BatonError {
  if (err instanceof BatonError) return err;
  if (err instanceof HttpException) return fromHttpException(err);
  logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return new BatonError(ErrorCode.INTERNAL, 'internal error');
}

function fromHttpException(err: HttpException): BatonError {
  const status = err.getStatus();
  const response = err.getResponse();
  const message =
    typeof response === 'object' && response !== null && 'message' in response
      ? String((response as { message: unknown }).message)
      : err.message;
  switch (status) {
    case 400:
      // Body problems are named by bodyParserError; other 400s come from the URL: a path segment
      // that is not percent-encoded UTF-8 (e.g. a lone surrogate's bytes) cannot name its parameter.
      return new BatonError(ErrorCode.INVALID_ARGUMENT, `the URL path cannot be decoded: ${message}`, {
        field: 'path',
      });
    case 404:
      return new BatonError(ErrorCode.NOT_FOUND, message);
    case 413:
      return new BatonError(ErrorCode.PAYLOAD_TOO_LARGE, `request body is too large: ${message}`, { field: 'body' });
    case 503:
      return new BatonError(ErrorCode.UNAVAILABLE, message);
    default:
      return new BatonError(status >= 500 ? ErrorCode.INTERNAL : ErrorCode.INVALID_ARGUMENT, message);
  }
}

/**
 * One exception filter for every transport: HTTP gets
 * `{"error":{"code","message","field"}}` with the mapped status; gRPC gets the
 * mapped status code plus the precise code, field and reason in metadata.
 */
@Catch()
export class BatonExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): Observable<never> | void {
    // body-parser reports oversized and malformed bodies as plain errors with a status.
    const err = toBatonError(bodyParserError(exception) ?? exception, this.logger);
    if (host.getType() === 'rpc') {
      const metadata = new Metadata();
      metadata.set(GRPC_ERROR_METADATA.code, err.code);
      if (err.field) metadata.set(GRPC_ERROR_METADATA.field, asciiMetadata(err.field));
      if (err.reason) metadata.set(GRPC_ERROR_METADATA.reason, err.reason);
      if (err.retryAfterMs !== undefined) metadata.set(RETRY_AFTER_METADATA, String(err.retryAfterMs));
      return throwError(() => ({ code: grpcStatusOf(err.code), message: err.message, details: err.message, metadata }));
    }
    const response = host.switchToHttp().getResponse<Response>();
    if (response.headersSent) return;
    // Retry-After counts whole seconds; the body's retryAfterMs is exact.
    if (err.retryAfterMs !== undefined) response.setHeader('Retry-After', String(Math.ceil(err.retryAfterMs / 1000)));
    response.status(httpStatusOf(err.code)).json({ error: err.toJSON() });
  }
}

/**
 * gRPC metadata values are printable ASCII: grpc-js throws (and the caller gets
 * UNKNOWN) on anything else. Field names are ASCII by construction (see
 * memberField); an unknown HTTP key is the one exception, so escape what is not.
 */
function asciiMetadata(value: string): string {
  return value.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

function bodyParserError(exception: unknown): BatonError | null {
  // Nest wraps body-parser's errors in an HttpException whose cause is the original.
  const cause = exception instanceof HttpException ? (exception.cause ?? exception) : exception;
  const e = cause as { type?: string; status?: number; limit?: number; length?: number };
  if (e?.type === 'entity.too.large') {
    return new BatonError(
      ErrorCode.PAYLOAD_TOO_LARGE,
      `request body is ${e.length} bytes; the limit is ${e.limit} bytes`,
      { field: 'body' },
    );
  }
  if (e?.type === 'entity.parse.failed') {
    return new BatonError(ErrorCode.INVALID_ARGUMENT, 'request body is not valid JSON', { field: 'body' });
  }
  // Any other refusal of the body by the parser (unsupported charset or content encoding, a
  // truncated or mis-sized body): the caller's fault, about the body.
  if (typeof e?.type === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new BatonError(ErrorCode.INVALID_ARGUMENT, `request body cannot be read: ${e.type}`, { field: 'body' });
  }
  return null;
}
