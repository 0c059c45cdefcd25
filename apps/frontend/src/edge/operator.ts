import { BatonError, OPERATOR_LIMITS, checkHistoryPageToken, checkName, checkOptionalText } from '@baton/contracts';
import type { RunHistoryView } from '@baton/contracts';
import type { ListHistoryRequest, ResetRequest, RetryRequest, RunHistoryEvent, TerminateRequest } from '@baton/proto';
import { parseNamespace, parsePageSize, parseRunId } from './requests';
import type { Untrusted } from './requests';

/*
 * Operator actions (Terminate, Retry, Reset) and ListHistory at the edge,
 * shared by gRPC and HTTP: raw fields in (HTTP: path parameters, body and
 * query merged by the controller), checked commands out.
 */

/** Who acted: the API key id, null with authentication off. */
type Actor = string | null;

export interface RunRef {
  namespace: string;
  runId: string;
}

export interface TerminateCommand extends RunRef {
  reason: string;
  actor: Actor;
}

export interface RetryCommand extends RunRef {
  reason: string | null;
  actor: Actor;
}

export interface ResetRunCommand extends RunRef {
  stepId: string;
  reason: string | null;
  actor: Actor;
}

export interface HistoryCommand extends RunRef {
  pageSize: number;
  pageToken: string | null;
}

function runRef(raw: Untrusted<RunRef>): RunRef {
  return { namespace: parseNamespace(raw.namespace), runId: parseRunId(raw.runId) };
}

/** Text kept as given (any characters but NUL and lone surrogates), up to the limit. */
const optionalReason = (value: unknown) => checkOptionalText(value, 'reason', OPERATOR_LIMITS.reasonBytes);

export function parseTerminate(raw: Untrusted<TerminateRequest>, actor: Actor): TerminateCommand {
  const ref = runRef(raw);
  if (raw.reason === undefined || raw.reason === null || raw.reason === '') {
    throw BatonError.invalid('reason', 'reason is required: say why the run is terminated');
  }
  return { ...ref, reason: checkName(raw.reason, 'reason', OPERATOR_LIMITS.reasonBytes), actor };
}

export function parseRetry(raw: Untrusted<RetryRequest>, actor: Actor): RetryCommand {
  return { ...runRef(raw), reason: optionalReason(raw.reason), actor };
}

export function parseReset(raw: Untrusted<ResetRequest>, actor: Actor): ResetRunCommand {
  const ref = runRef(raw);
  return { ...ref, stepId: checkName(raw.stepId, 'stepId'), reason: optionalReason(raw.reason), actor };
}

export function parseHistory(raw: Untrusted<ListHistoryRequest>): HistoryCommand {
  return {
    ...runRef(raw),
    pageSize: parsePageSize(raw.pageSize, OPERATOR_LIMITS.historyPage),
    pageToken: checkHistoryPageToken(raw.pageToken),
  };
}

/** A history entry on the wire (gRPC): epoch-ms time, empty text for none. */
export function historyToGrpc(event: RunHistoryView): RunHistoryEvent {
  return {
    id: event.id,
    runId: event.runId,
    atMs: event.at.getTime(),
    action: event.action,
    actor: event.actor ?? '',
    reason: event.reason ?? '',
    detail: event.detail,
  };
}

/** The same over HTTP: ISO time, null for none. */
export function historyToHttp(event: RunHistoryView) {
  return { ...event, at: event.at.toISOString() };
}
