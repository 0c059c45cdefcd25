import { randomUUID } from 'node:crypto';

/** Any UUID in its 8-4-4-4-12 hex form, either case (ids of every version are accepted). */
export const UUID_PATTERN = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/**
 * UUID v7 (RFC 9562): 48-bit millisecond timestamp then random bits, so ids
 * sort by creation time and index inserts stay local. The random bits come
 * from randomUUID (a v4, whose variant bits v7 shares), which draws from a
 * buffered pool: one id is a string splice, not a system call.
 */
export function uuidv7(now: number = Date.now()): string {
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  // v4 is xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx: its version digit becomes 7, the rest stays random.
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
