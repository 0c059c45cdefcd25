import {
  BatonError,
  CHILD_LIMITS,
  LIMITS,
  checkName,
  checkOptionalBoolean,
  checkOptionalText,
  describeValue,
  parseBoundedDuration,
} from '@baton/contracts';
import type { Payload } from '@baton/contracts';
import type { ChildStart } from '@baton/persistence';
import type { StartChildRequest } from '@baton/proto';
import { parseRetryPolicy, parseStepRef } from '../edge/requests';
import type { Untrusted } from '../edge/requests';

/*
 * StartChild at the edge, shared by gRPC and HTTP: raw fields in, a checked
 * ChildStart out, each error naming its field and limit. The lease and the
 * input payload are parsed by the caller (parseLease, the transport's payload
 * parser).
 */

/** The child's deadline: absent (none), or a positive duration up to a run's longest timeout. */
function parseChildTimeoutMs(value: unknown): number | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw BatonError.invalid('timeoutMs', 'timeoutMs must be milliseconds or a duration such as "90s"');
  }
  const ms = parseBoundedDuration(value, 'timeoutMs', LIMITS.maxRunTimeoutMs);
  if (ms === 0) throw BatonError.invalid('timeoutMs', 'timeoutMs must be positive when given');
  return ms;
}

/** The other CHILD steps the workflow awaits: absent is none; otherwise a list of step ids. */
function parseAwaiting(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw BatonError.invalid('awaiting', `awaiting must be a list of step ids (got ${describeValue(value)})`);
  }
  if (value.length > CHILD_LIMITS.maxAwaiting) {
    throw BatonError.invalid('awaiting', `awaiting may list at most ${CHILD_LIMITS.maxAwaiting} step ids`);
  }
  return value.map((id: unknown, i: number) => checkName(id, `awaiting[${i}]`));
}

/** StartChildRequest (over HTTP `timeout` may stand for `timeoutMs`) → the transition's command. */
export function parseStartChild(
  raw: Untrusted<StartChildRequest & { timeout: unknown }>,
  input: Payload | null,
): ChildStart {
  const { stepId, seq } = parseStepRef(raw);
  return {
    stepId,
    seq,
    workflowType: checkName(raw.workflowType, 'workflowType'),
    queue: raw.queue === undefined || raw.queue === null || raw.queue === '' ? null : checkName(raw.queue, 'queue'),
    input,
    externalId: checkOptionalText(raw.externalId, 'externalId', LIMITS.externalIdBytes),
    retryPolicy: parseRetryPolicy(raw.retry),
    timeoutMs: parseChildTimeoutMs(raw.timeoutMs ?? raw.timeout),
    cancelWithParent: checkOptionalBoolean(raw.cancelWithParent, 'cancelWithParent', true),
    park: checkOptionalBoolean(raw.park, 'park'),
    awaiting: parseAwaiting(raw.awaiting),
  };
}
