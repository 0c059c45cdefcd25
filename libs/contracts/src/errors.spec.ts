import {
  BatonError,
  ErrorCode,
  errorCodeOfGrpcStatus,
  ErrorReason,
  GRPC_ERROR_METADATA,
  GrpcStatus,
  grpcStatusOf,
  httpStatusOf,
} from './errors';

const ALL_CODES = Object.values(ErrorCode);
const GRPC_NUMBERS = new Set<number>(Object.values(GrpcStatus));

describe('status mapping', () => {
  it.each(ALL_CODES)('maps %s to a known gRPC status and an HTTP error status', (code) => {
    const grpc = grpcStatusOf(code);
    const http = httpStatusOf(code);
    expect(GRPC_NUMBERS.has(grpc)).toBe(true);
    expect(grpc).not.toBe(GrpcStatus.OK);
    expect(Number.isInteger(http)).toBe(true);
    expect(http).toBeGreaterThanOrEqual(400);
    expect(http).toBeLessThan(600);
  });

  it.each([
    [ErrorCode.INVALID_ARGUMENT, 3, 400],
    [ErrorCode.PAYLOAD_TOO_LARGE, 3, 413],
    [ErrorCode.NOT_FOUND, 5, 404],
    [ErrorCode.ALREADY_EXISTS, 6, 409],
    [ErrorCode.FAILED_PRECONDITION, 9, 409],
    [ErrorCode.UNAUTHENTICATED, 16, 401],
    [ErrorCode.PERMISSION_DENIED, 7, 403],
    [ErrorCode.RESOURCE_EXHAUSTED, 8, 429],
    [ErrorCode.UNAVAILABLE, 14, 503],
    [ErrorCode.DEADLINE_EXCEEDED, 4, 504],
    [ErrorCode.UNIMPLEMENTED, 12, 501],
    [ErrorCode.INTERNAL, 13, 500],
  ])('maps %s to gRPC %i and HTTP %i', (code, grpc, http) => {
    expect(grpcStatusOf(code)).toBe(grpc);
    expect(httpStatusOf(code)).toBe(http);
  });

  it('covers every code in the table above', () => {
    expect(ALL_CODES).toHaveLength(12);
  });
});

describe('errorCodeOfGrpcStatus', () => {
  it.each(ALL_CODES.filter((c) => c !== ErrorCode.PAYLOAD_TOO_LARGE))('inverts grpcStatusOf for %s', (code) => {
    expect(errorCodeOfGrpcStatus(grpcStatusOf(code))).toBe(code);
  });

  it('reads gRPC INVALID_ARGUMENT as INVALID_ARGUMENT (PAYLOAD_TOO_LARGE travels in metadata)', () => {
    expect(errorCodeOfGrpcStatus(GrpcStatus.INVALID_ARGUMENT)).toBe(ErrorCode.INVALID_ARGUMENT);
  });

  it.each([GrpcStatus.OK, GrpcStatus.CANCELLED, GrpcStatus.UNKNOWN, GrpcStatus.ABORTED, 99, -1])(
    'falls back to INTERNAL for unmapped status %i',
    (status) => {
      expect(errorCodeOfGrpcStatus(status)).toBe(ErrorCode.INTERNAL);
    },
  );
});

describe('BatonError', () => {
  it('is an Error carrying code, message and name', () => {
    const err = new BatonError(ErrorCode.UNAVAILABLE, 'database down');
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(BatonError);
    expect(err.name).toBe('BatonError');
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe('database down');
    expect(err.details).toEqual({});
    expect(err.field).toBeUndefined();
    expect(err.reason).toBeUndefined();
  });

  it('toJSON includes the field', () => {
    const err = BatonError.invalid('namespace', 'namespace is required');
    expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(err.field).toBe('namespace');
    expect(err.toJSON()).toEqual({ code: 'INVALID_ARGUMENT', message: 'namespace is required', field: 'namespace' });
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'namespace is required',
      field: 'namespace',
    });
  });

  it('toJSON includes the reason and omits absent details', () => {
    const err = BatonError.precondition('lease lost', ErrorReason.LEASE_LOST);
    expect(err.code).toBe(ErrorCode.FAILED_PRECONDITION);
    expect(err.reason).toBe('LEASE_LOST');
    expect(err.toJSON()).toEqual({ code: 'FAILED_PRECONDITION', message: 'lease lost', reason: 'LEASE_LOST' });
    expect(Object.keys(new BatonError(ErrorCode.INTERNAL, 'x').toJSON()).sort()).toEqual(['code', 'message']);
  });

  it('toJSON carries both field and reason', () => {
    const err = new BatonError(ErrorCode.FAILED_PRECONDITION, 'bad', {
      field: 'runId',
      reason: ErrorReason.RUN_TERMINAL,
    });
    expect(err.toJSON()).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'bad',
      field: 'runId',
      reason: 'RUN_TERMINAL',
    });
  });

  it('precondition without a reason has no reason', () => {
    const err = BatonError.precondition('nope');
    expect(err.reason).toBeUndefined();
    expect(err.details).toEqual({});
  });

  it('notFound names what was missing', () => {
    const err = BatonError.notFound('run 123');
    expect(err.code).toBe(ErrorCode.NOT_FOUND);
    expect(err.message).toBe('run 123 not found');
  });

  it('isBatonError tells BatonErrors apart', () => {
    expect(BatonError.isBatonError(BatonError.notFound('x'))).toBe(true);
    expect(BatonError.isBatonError(new Error('x'))).toBe(false);
    expect(BatonError.isBatonError({ code: 'NOT_FOUND', message: 'x' })).toBe(false);
    expect(BatonError.isBatonError(null)).toBe(false);
  });
});

describe('GRPC_ERROR_METADATA', () => {
  it('uses distinct baton-prefixed lowercase keys', () => {
    const keys = Object.values(GRPC_ERROR_METADATA);
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) expect(key).toMatch(/^baton-[a-z-]+$/);
  });
});
