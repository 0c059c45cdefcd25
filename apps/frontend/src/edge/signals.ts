import {
  BatonError,
  LIMITS,
  SIGNAL_LIMITS,
  checkName,
  checkOptionalText,
  parseBoundedDuration,
} from '@baton/contracts';
import type { BatonConfig, Payload } from '@baton/contracts';
import type { SignalCommand, SignalWaitStep } from '@baton/persistence';
import type { SignalRequest, WaitForSignalRequest } from '@baton/proto';
import { parseNamespace, parseRunId, parseStepRef } from './requests';
import type { Untrusted } from './requests';

/*
 * Validation of the signal calls, shared by gRPC and HTTP (see requests.ts
 * for the conventions). Payloads are read by the transport (payloads.ts).
 */

const given = (value: unknown) => value !== undefined && value !== null && value !== '';

export function parseSignalName(value: unknown): string {
  return checkName(value, 'name', SIGNAL_LIMITS.nameBytes);
}

/**
 * SignalRequest: exactly one of `runId` and `externalId` names the run
 * (`by`: the one a route requires, e.g. HTTP's signal by external id).
 */
export function parseSignal(
  namespace: unknown,
  raw: Untrusted<Pick<SignalRequest, 'runId' | 'externalId' | 'name' | 'requestId'>>,
  payload: Payload | null,
  by: 'externalId' | 'either' = 'either',
): SignalCommand {
  const ns = parseNamespace(namespace);
  if (given(raw.runId) && given(raw.externalId)) {
    throw BatonError.invalid('externalId', 'name the run by runId or by externalId, not both');
  }
  if (by === 'externalId' && !given(raw.externalId)) {
    throw BatonError.invalid('externalId', 'externalId is required and must not be empty');
  }
  const externalId = checkOptionalText(raw.externalId, 'externalId', LIMITS.externalIdBytes);
  const target = externalId === null ? { runId: parseRunId(raw.runId) } : { externalId };
  return {
    namespace: ns,
    target,
    name: parseSignalName(raw.name),
    payload,
    requestId: checkOptionalText(raw.requestId, 'requestId', SIGNAL_LIMITS.requestIdBytes),
  };
}

/**
 * A wait's timeout: absent is none (wait until a signal comes); otherwise
 * 0 to the longest sleep (30 days), milliseconds or a duration text.
 */
function parseSignalTimeout(value: unknown, config: Pick<BatonConfig, 'maxSleepMs'>): number | null {
  if (!given(value)) return null;
  if (typeof value !== 'number' && typeof value !== 'string') {
    throw BatonError.invalid('timeoutMs', 'timeoutMs must be milliseconds or a duration such as "90s"');
  }
  return parseBoundedDuration(value, 'timeoutMs', config.maxSleepMs);
}

/** WaitForSignalRequest without its lease and last step (parsed as for every mutation); over HTTP `timeout` may stand for `timeoutMs`. */
export function parseWaitForSignal(
  raw: Untrusted<Pick<WaitForSignalRequest, 'stepId' | 'seq' | 'name' | 'timeoutMs'> & { timeout: unknown }>,
  config: Pick<BatonConfig, 'maxSleepMs'>,
): SignalWaitStep {
  const { stepId, seq } = parseStepRef(raw);
  return {
    stepId,
    seq,
    name: parseSignalName(raw.name),
    timeoutMs: parseSignalTimeout(raw.timeoutMs ?? raw.timeout, config),
  };
}
