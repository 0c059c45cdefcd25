import { BatonError } from './errors';

/*
 * Operator actions on runs (terminate, retry, reset) and the audit trail they
 * leave, with client cancels, in the run's history.
 */

/** What a history entry records. */
export const RunHistoryAction = {
  /** Cancelled through the API (Cancel): by a client or an operator. */
  CANCELLED: 'CANCELLED',
  /** Stopped for good by an operator, with a reason (Terminate). */
  TERMINATED: 'TERMINATED',
  /** A FAILED run set going again from where it failed (Retry). */
  RETRIED: 'RETRIED',
  /** A run sent back to before one of its steps (Reset). */
  RESET: 'RESET',
} as const;
export type RunHistoryAction = (typeof RunHistoryAction)[keyof typeof RunHistoryAction];
export const RUN_HISTORY_ACTIONS = Object.values(RunHistoryAction);

export const OPERATOR_LIMITS = Object.freeze({
  /** UTF-8 bytes of an operator's reason: a sentence or a ticket reference, not a document. */
  reasonBytes: 1024,
  historyPage: { default: 50, max: 100 },
});

/**
 * The error type a terminated run shows, its message being the operator's
 * reason: `get` tells why the run ended without another field on the run.
 */
export const TERMINATED_ERROR_TYPE = 'WorkflowTerminated';

/** One entry of a run's history. */
export interface RunHistoryView {
  /** Increasing within a run, in the order the actions happened. */
  id: string;
  runId: string;
  at: Date;
  action: RunHistoryAction;
  /** The API key that acted; null when authentication is off. */
  actor: string | null;
  reason: string | null;
  /** What the action changed: the run's status before it (`from`), a reset's `stepId` and `seq`, ... */
  detail: Record<string, string>;
}

/** History ids are a bigserial: their page token is the last id, in decimal (at most a safe integer). */
export function checkHistoryPageToken(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) {
    throw BatonError.invalid('pageToken', 'pageToken is malformed; pass the token a previous page returned');
  }
  return value;
}
