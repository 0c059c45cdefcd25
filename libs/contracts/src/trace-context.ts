import { BatonError } from './errors';

/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/). A run keeps the
 * `traceparent` it was started in, and every execution of it, on any worker
 * and after any replay, continues that trace. Parsed and written here, once,
 * for the SDK and the server alike; the OpenTelemetry glue lives beside each.
 */

/** The gRPC metadata key and HTTP header a call's trace context travels in. */
export const TRACEPARENT_HEADER = 'traceparent';

/** A traceparent's fields, shaped as OpenTelemetry's SpanContext (one spread makes one). */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The trace flags byte (bit 0: sampled). */
  traceFlags: number;
}

/** A traceparent header is 55 characters in version 00; later versions may append fields, within reason. */
const MAX_TRACEPARENT_LENGTH = 512;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ALL_ZERO = /^0+$/;

/**
 * The fields of a valid traceparent, or null for anything else (absent,
 * malformed, version ff, an all-zero id): the W3C rule is that a receiver
 * ignores what it cannot parse and starts afresh.
 */
export function parseTraceparent(value: unknown): TraceParent | null {
  if (typeof value !== 'string' || value.length > MAX_TRACEPARENT_LENGTH) return null;
  const match = TRACEPARENT.exec(value.trim());
  if (!match) return null;
  const [, version, traceId, spanId, flags, extra] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  // Version 00 has exactly four fields; a later version may add some after them (read as 00).
  if (version === 'ff' || (version === '00' && extra !== undefined)) return null;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return null;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) };
}

/** The version-00 traceparent of `parent` (an OpenTelemetry SpanContext will do). */
export function formatTraceparent(parent: TraceParent): string {
  const flags = (parent.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${parent.traceId}-${parent.spanId}-${flags}`;
}

/**
 * A traceparent our own API carries in a field (StartRequest.traceparent):
 * absent or empty is none; anything else must be valid, since only a bug
 * sends a malformed one. Returned in canonical (version 00) form.
 */
export function checkOptionalTraceparent(value: unknown, field: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  const parsed = parseTraceparent(value);
  if (!parsed) {
    throw BatonError.invalid(field, `${field} must be a W3C traceparent such as "00-<32 hex>-<16 hex>-01"`);
  }
  return formatTraceparent(parsed);
}

/** Span attribute names of Baton's own, on the server's and the SDK's spans (OpenTelemetry's come from semantic-conventions). */
export const TRACE_ATTRIBUTES = {
  namespace: 'baton.namespace',
  queue: 'baton.queue',
  runId: 'baton.run_id',
  workflowType: 'baton.workflow_type',
  attempt: 'baton.attempt',
  workerId: 'baton.worker_id',
  stepId: 'baton.step_id',
  stepSeq: 'baton.step_seq',
  eager: 'baton.claim.eager',
  errorCode: 'baton.error_code',
} as const;
