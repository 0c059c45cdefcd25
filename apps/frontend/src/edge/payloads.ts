import {
  BatonError,
  ENCODING_BINARY,
  ENCODING_JSON,
  checkJsonBytes,
  checkPayloadSize,
  describeValue,
} from '@baton/contracts';
import type { Payload } from '@baton/contracts';
import type { CompletedStep } from '@baton/persistence';
import type { CompletedStep as CompletedStepMessage, Payload as PayloadMessage } from '@baton/proto';
import { parseLastStep } from './requests';

/** A message's bytes as a Buffer over the same memory. */
function bytesOf(data: Uint8Array | undefined): Buffer {
  return data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.alloc(0);
}

/** A gRPC `Payload` message (empty bytes arrive as undefined) → a checked payload; absent is none. */
export function fromGrpcPayload(raw: PayloadMessage | undefined, field: string, limit: number): Payload | null {
  if (!raw) return null;
  const encoding = raw.encoding || ENCODING_JSON;
  if (encoding !== ENCODING_JSON && encoding !== ENCODING_BINARY) {
    throw BatonError.invalid(
      `${field}.encoding`,
      `${field}.encoding must be "json" or "binary" (got ${describeValue(encoding)})`,
    );
  }
  const data = bytesOf(raw.data);
  checkPayloadSize(data.length, field, limit);
  // Bytes labelled JSON are read back as JSON by every client: they must parse now, not at the first read.
  if (encoding === ENCODING_JSON) checkJsonBytes(data, field);
  return { data, encoding };
}

/** Base64 text as HTTP bodies carry bytes (standard or URL-safe alphabet). */
export const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;

/** `${field}Base64` of an HTTP body: base64 text, or refused naming the field. */
export function checkBase64Text(text: unknown, field: string): string {
  if (typeof text !== 'string' || !BASE64_TEXT.test(text)) {
    throw BatonError.invalid(field, `${field} must be base64 text (got ${describeValue(text)})`);
  }
  return text;
}

/**
 * HTTP bodies carry a payload as a JSON value under `key`, or as base64 bytes
 * under `${key}Base64` (binary). Absent both: no payload. Errors name `field`
 * (the key's path from the body's top, e.g. `lastStep.output`).
 */
export function fromHttpPayload(
  body: Record<string, unknown>,
  key: string,
  limit: number,
  field: string = key,
): Payload | null {
  const base64Key = `${key}Base64`;
  const base64Field = `${field}Base64`;
  if (body[base64Key] !== undefined && body[base64Key] !== null) {
    const data = Buffer.from(checkBase64Text(body[base64Key], base64Field), 'base64');
    checkPayloadSize(data.length, field, limit);
    return { data, encoding: ENCODING_BINARY };
  }
  if (!(key in body)) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(body[key]);
  } catch {
    // JSON.parse takes any depth; JSON.stringify overflows the stack on a few thousand levels.
    throw BatonError.invalid(field, `${field} is nested too deeply to store as JSON`);
  }
  const data = Buffer.from(text ?? 'null', 'utf8');
  checkPayloadSize(data.length, field, limit);
  return { data, encoding: ENCODING_JSON };
}

/**
 * The inverse for responses (a stored payload or a task's payload message):
 * `{ [field]: value }` or `{ [field + 'Base64']: text }`.
 */
export function toHttpPayload(payload: PayloadMessage | null | undefined, field: string): Record<string, unknown> {
  if (!payload) return {};
  const data = bytesOf(payload.data);
  if (payload.encoding === ENCODING_JSON) {
    try {
      return { [field]: data.length ? JSON.parse(data.toString('utf8')) : null };
    } catch {
      // Not JSON after all: hand the bytes over untouched.
    }
  }
  return { [`${field}Base64`]: data.toString('base64') };
}

/** `lastStep` of CompleteWorkflow or Sleep over gRPC: the run's last completed step, recorded with the call. */
export function lastStepFromGrpc(raw: CompletedStepMessage | undefined, limit: number): CompletedStep | null {
  const last = parseLastStep(raw);
  return (
    last && {
      stepId: last.stepId,
      seq: last.seq,
      output: fromGrpcPayload(raw?.output, last.outputField, limit),
      durationMs: last.durationMs,
    }
  );
}

/** The same over HTTP: `{ stepId, seq, output | outputBase64, durationMs }`. */
export function lastStepFromHttp(raw: unknown, limit: number): CompletedStep | null {
  const last = parseLastStep(raw);
  return (
    last && {
      stepId: last.stepId,
      seq: last.seq,
      output: fromHttpPayload(last.body, 'output', limit, last.outputField),
      durationMs: last.durationMs,
    }
  );
}
