import { parentQueueColumn } from './child-runs';
import { UNLOCK, frontendsSettledMs, ms } from './fragments';

/**
 * The recovery budget (invariant 8), kept apart from the retry policy: a
 * recovery moves attempt and recoveries on, never what the policy counts
 * (attempt - recoveries), and never overwrites the run's last real error.
 */
export interface RecoveryBudget {
  /** Recoveries a run may have; the next loss fails it. */
  limit: number;
  /** Delay before the second recovered attempt (the first is immediate), doubling per recovery. */
  backoffMs: number;
  backoffMaxMs: number;
}

/**
 * Whether workers have had a fair chance to speak: a frontend to heartbeat to
 * that reached the database. A database outage stops frontends' pulses too, so
 * their "up since" restarts after one.
 */
export interface Settledness {
  /** A frontend counts as up if it pulsed within this many ms. */
  pulseGapMs: number;
}

/**
 * Moves the RUNNING runs that `lost` selects (and locks; columns id and
 * delivered, the latter returned as was_delivered), with parameters
 * $1 limit, $2 backoff, $3 backoff cap, $4 reason; the source's own from $5.
 *  - undelivered claim (the worker never acknowledged it): back to PENDING now,
 *    free: no attempt, no recovery.
 *  - delivered, budget left: PENDING, attempt + 1, recoveries + 1; the first
 *    recovery is claimable at once, later ones after a doubling backoff.
 *  - delivered, budget spent: FAILED (LEASE_LOST) with the true count and the
 *    last real error's message and stack kept.
 */
export const recoverRuns = (lost: string) => `
  WITH lost AS (${lost}), moved AS (
    UPDATE workflow_runs r
    SET status = CASE WHEN r.delivered AND r.recoveries >= $1 THEN 'FAILED' ELSE 'PENDING' END,
        attempt = CASE WHEN r.delivered AND r.recoveries < $1 THEN r.attempt + 1 ELSE r.attempt END,
        recoveries = CASE WHEN r.delivered AND r.recoveries < $1 THEN r.recoveries + 1 ELSE r.recoveries END,
        available_at = CASE WHEN r.delivered AND r.recoveries > 0
                            THEN now() + ${ms('least($2::float8 * power(2, r.recoveries - 1), $3::float8)')}
                            ELSE now() END,
        finished_at = CASE WHEN r.delivered AND r.recoveries >= $1 THEN now() END,
        last_recovery_reason = CASE WHEN r.delivered THEN $4 ELSE r.last_recovery_reason END,
        error_message = CASE WHEN r.delivered AND r.recoveries >= $1
          THEN format('lease lost %s times (last: %s): recovery limit of %s reached', r.recoveries + 1, $4, $1)
               || coalesce('; last error: ' || r.error_message, '')
          ELSE r.error_message END,
        error_type = CASE WHEN r.delivered AND r.recoveries >= $1 THEN 'LEASE_LOST' ELSE r.error_type END,
        error_non_retryable = CASE WHEN r.delivered AND r.recoveries >= $1 THEN true ELSE r.error_non_retryable END,
        ${UNLOCK}, wake_up_at = NULL, updated_at = now()
    FROM lost
    WHERE r.id = lost.id AND r.status = 'RUNNING'
    RETURNING r.id, r.namespace, r.task_queue, r.status, r.available_at, r.workflow_type, lost.delivered AS was_delivered,
              extract(epoch FROM r.finished_at - r.created_at)::float8 AS duration_s, ${parentQueueColumn('r')}
  )
  SELECT * FROM moved`;

export const budgetParams = (budget: RecoveryBudget, reason: string): unknown[] => [
  budget.limit,
  budget.backoffMs,
  budget.backoffMaxMs,
  reason,
];

/** SQL: true when workers have had `windowParam` ms of a fair chance to heartbeat. */
export const settledFor = (windowParam: string, gapParam: string) =>
  `${frontendsSettledMs(gapParam)} >= ${windowParam}::float8`;
