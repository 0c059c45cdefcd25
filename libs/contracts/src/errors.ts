/**
 * The one error model of Baton. Domain code throws `BatonError` with a code;
 * each transport maps the code to its own status at its edge (see
 * `grpcStatusOf` / `httpStatusOf`), so no shared code knows about HTTP.
 */
export const ErrorCode = {
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  NOT_FOUND: 'NOT_FOUND',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  FAILED_PRECONDITION: 'FAILED_PRECONDITION',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  /** A rate limit or a bound on concurrent calls: try again later (the error says when). */
  RESOURCE_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  UNAVAILABLE: 'UNAVAILABLE',
  DEADLINE_EXCEEDED: 'DEADLINE_EXCEEDED',
  UNIMPLEMENTED: 'UNIMPLEMENTED',
  INTERNAL: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Stable reasons inside FAILED_PRECONDITION that a client acts upon. */
export const ErrorReason = {
  LEASE_LOST: 'LEASE_LOST',
  RUN_CANCELLED: 'RUN_CANCELLED',
  RUN_TERMINAL: 'RUN_TERMINAL',
  WORKER_REREGISTER: 'WORKER_REREGISTER',
  /** The worker is draining: it must finish what it holds and ask for nothing more. */
  WORKER_DRAINING: 'WORKER_DRAINING',
  NON_DETERMINISTIC: 'NON_DETERMINISTIC',
  /** The step already failed for good: a repeated FailStep (its first reply was lost) learns the outcome. */
  STEP_ALREADY_FAILED: 'STEP_ALREADY_FAILED',
  /** A signal was sent to a finished run (COMPLETED, FAILED, CANCELLED, ...): nothing will ever wait for it. */
  SIGNAL_RUN_FINISHED: 'SIGNAL_RUN_FINISHED',
} as const;
export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

export interface BatonErrorDetails {
  field?: string;
  reason?: ErrorReason;
  /** RESOURCE_EXHAUSTED: when trying again may succeed. */
  retryAfterMs?: number;
}

/**
 * An error with a code (ErrorCode) that says why, whichever side threw it: the
 * server's errors reach the SDK as BatonErrors with the server's code, `field`
 * and `reason`.
 */
export class BatonError extends Error {
  override readonly name = 'BatonError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: BatonErrorDetails = {},
  ) {
    super(message);
  }

  /** The argument at fault (INVALID_ARGUMENT), as the request names it: `options.queue`, `timeout`. */
  get field(): string | undefined {
    return this.details.field;
  }

  /** Which precondition failed (FAILED_PRECONDITION), for a caller to act on. */
  get reason(): ErrorReason | undefined {
    return this.details.reason;
  }

  /** RESOURCE_EXHAUSTED: how long to wait before trying again. */
  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }

  /** The error as the HTTP API's error body shows it. */
  toJSON(): { code: ErrorCode; message: string; field?: string; reason?: ErrorReason; retryAfterMs?: number } {
    return { code: this.code, message: this.message, ...this.details };
  }

  /** INVALID_ARGUMENT naming `field`. */
  static invalid(field: string, message: string): BatonError {
    return new BatonError(ErrorCode.INVALID_ARGUMENT, message, { field });
  }

  /** NOT_FOUND: `<what> not found`. */
  static notFound(what: string): BatonError {
    return new BatonError(ErrorCode.NOT_FOUND, `${what} not found`);
  }

  /** FAILED_PRECONDITION, with the `reason` a caller acts on. */
  static precondition(message: string, reason?: ErrorReason): BatonError {
    return new BatonError(ErrorCode.FAILED_PRECONDITION, message, reason ? { reason } : {});
  }

  /** `err instanceof BatonError`. */
  static isBatonError(err: unknown): err is BatonError {
    return err instanceof BatonError;
  }
}

/** gRPC status numbers (from the gRPC spec), kept here so contracts need no gRPC dependency. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export function grpcStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.PAYLOAD_TOO_LARGE:
      return GrpcStatus.INVALID_ARGUMENT;
    case ErrorCode.NOT_FOUND:
      return GrpcStatus.NOT_FOUND;
    case ErrorCode.ALREADY_EXISTS:
      return GrpcStatus.ALREADY_EXISTS;
    case ErrorCode.FAILED_PRECONDITION:
      return GrpcStatus.FAILED_PRECONDITION;
    case ErrorCode.UNAUTHENTICATED:
      return GrpcStatus.UNAUTHENTICATED;
    case ErrorCode.PERMISSION_DENIED:
      return GrpcStatus.PERMISSION_DENIED;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case ErrorCode.UNAVAILABLE:
      return GrpcStatus.UNAVAILABLE;
    case ErrorCode.DEADLINE_EXCEEDED:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case ErrorCode.UNIMPLEMENTED:
      return GrpcStatus.UNIMPLEMENTED;
    case ErrorCode.INTERNAL:
      return GrpcStatus.INTERNAL;
  }
}

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
      return 400;
    case ErrorCode.PAYLOAD_TOO_LARGE:
      return 413;
    case ErrorCode.NOT_FOUND:
      return 404;
    case ErrorCode.ALREADY_EXISTS:
    case ErrorCode.FAILED_PRECONDITION:
      return 409;
    case ErrorCode.UNAUTHENTICATED:
      return 401;
    case ErrorCode.PERMISSION_DENIED:
      return 403;
    case ErrorCode.RESOURCE_EXHAUSTED:
      return 429;
    case ErrorCode.UNAVAILABLE:
      return 503;
    case ErrorCode.DEADLINE_EXCEEDED:
      return 504;
    case ErrorCode.UNIMPLEMENTED:
      return 501;
    case ErrorCode.INTERNAL:
      return 500;
  }
}

/** Inverse of grpcStatusOf for the SDK; the precise code travels in metadata when present. */
export function errorCodeOfGrpcStatus(status: number): ErrorCode {
  const match = (Object.keys(ErrorCode) as ErrorCode[]).find((c) => grpcStatusOf(c) === status);
  return match ?? ErrorCode.INTERNAL;
}

/** gRPC metadata keys carrying the precise error model across the wire. */
export const GRPC_ERROR_METADATA = {
  code: 'baton-error-code',
  field: 'baton-error-field',
  reason: 'baton-error-reason',
} as const;
