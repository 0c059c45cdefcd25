import { BatonError, ErrorCode } from './errors';
import { LIMITS } from './limits';
import { isUuid } from './uuid';

/** Names (namespace, queue, workflow type, step id): non-empty, at most 255 UTF-8 bytes. */
export function checkName(value: unknown, field: string, maxBytes: number = LIMITS.nameBytes): string {
  if (value === undefined || value === null || value === '') {
    throw BatonError.invalid(field, `${field} is required and must not be empty`);
  }
  if (typeof value !== 'string') throw BatonError.invalid(field, `${field} must be a string`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) {
    throw BatonError.invalid(field, `${field} must be at most ${maxBytes} bytes (got ${bytes})`);
  }
  if (value.includes('\u0000')) throw BatonError.invalid(field, `${field} must not contain NUL characters`);
  return value;
}

/** Optional text such as an external id: absent or empty means none. */
export function checkOptionalText(value: unknown, field: string, maxBytes: number): string | null {
  if (value === undefined || value === null || value === '') return null;
  return checkName(value, field, maxBytes);
}

export function checkUuid(value: unknown, field: string): string {
  if (!isUuid(value)) throw BatonError.invalid(field, `${field} must be a UUID (got ${JSON.stringify(value ?? null)})`);
  return value.toLowerCase();
}

export function checkPayloadSize(bytes: number, field: string, limit: number = LIMITS.payloadBytes): void {
  if (bytes > limit) {
    throw new BatonError(ErrorCode.PAYLOAD_TOO_LARGE, `${field} is ${bytes} bytes; the limit is ${limit} bytes`, {
      field,
    });
  }
}

export function checkInt(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw BatonError.invalid(field, `${field} must be an integer between ${min} and ${max}`);
  }
  if (value < min || value > max) {
    throw BatonError.invalid(field, `${field} must be between ${min} and ${max} (got ${value})`);
  }
  return value;
}

export function checkOptionalInt(value: unknown, field: string, min: number, max: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  return checkInt(value, field, min, max);
}
