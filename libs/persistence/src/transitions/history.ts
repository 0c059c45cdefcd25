import type { RunHistoryAction } from '@baton/contracts';
import { LIVE_STATUSES } from './fragments';

/*
 * The run's history (run_history): every operator or client action on a run
 * leaves an entry, written by the action's own statement, so that no change
 * exists without its entry and no entry without its change.
 */

/** Where an entry's fields come from: SQL expressions over the CTE of changed runs (which has `id`). */
export interface HistoryEntry {
  action: RunHistoryAction;
  /** The acting API key id (null when authentication is off). */
  actor: string;
  reason: string;
  /** A jsonb object of text values. */
  detail: string;
}

/** An INSERT of one entry per row of CTE `runs`: the action's last CTE. */
export const recordHistory = (runs: string, e: HistoryEntry) => `
  INSERT INTO run_history (run_id, action, actor, reason, detail)
  SELECT ${runs}.id, '${e.action}', ${e.actor}, ${e.reason}, ${e.detail} FROM ${runs}`;

/**
 * The run's state a restart (retry, reset) gives it: PENDING and claimable
 * now, no owner, no error, no finish; a fresh retry budget (attempt 1, no
 * recoveries: the policy applies to the new course as to a new run); and the
 * run's timeout counted again from now, since a run that failed at its
 * deadline could otherwise never run again. Over workflow_runs' own columns.
 */
export const RESTARTED = `
  status = 'PENDING', attempt = 1, recoveries = 0, last_recovery_reason = NULL, wake_up_at = NULL,
  finished_at = NULL, error_message = NULL, error_type = NULL, error_stack = NULL, error_non_retryable = NULL,
  deadline_at = deadline_at - created_at + now(), updated_at = now()`;

/**
 * external_id is unique among live runs (index workflow_runs_external_id): a
 * terminal run may come back to life only if no other live run took its key
 * meanwhile. The unique index is the last word (a start racing this one);
 * this guard lets the common case answer without an error. Over alias `r`.
 */
export const EXTERNAL_ID_FREE = `(r.external_id IS NULL OR NOT EXISTS (
  SELECT 1 FROM workflow_runs o
  WHERE o.namespace = r.namespace AND o.external_id = r.external_id AND o.id <> r.id
    AND o.status IN (${LIVE_STATUSES})))`;
