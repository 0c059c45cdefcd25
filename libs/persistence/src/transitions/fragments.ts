import { ACTIVE_RUN_STATUSES, RunStatus, TERMINAL_RUN_STATUSES } from '@baton/contracts';

/* SQL pieces every transition shares, written once. */

const quoted = (values: readonly string[]) => values.map((v) => `'${v}'`).join(',');

/** `'PENDING','RUNNING','SLEEPING'`: the statuses a run can still leave (the partial indexes use the same list). */
export const LIVE_STATUSES = quoted(ACTIVE_RUN_STATUSES);

/** `'COMPLETED','FAILED','CANCELLED','TERMINATED'`: the statuses a run never leaves on its own. */
export const TERMINAL_STATUSES = quoted(TERMINAL_RUN_STATUSES);

/** Statuses a claim takes runs from: PENDING, or SLEEPING and due (available_at is then the wake time). */
export const CLAIMABLE_STATUSES = quoted([RunStatus.PENDING, RunStatus.SLEEPING]);

/**
 * The run has no owner any more: every transition out of RUNNING sets these.
 * Its lease token goes with it, so no run that left RUNNING holds one.
 */
export const UNLOCK = `locked_by = NULL, locked_until = NULL, delivered = false, lease_token = NULL`;

/**
 * A queue's counts are its folded row plus the deltas not folded yet:
 * (namespace, task_queue, pending, running, sleeping) rows to sum, narrowed
 * by `where` (over those columns) before the union.
 */
export const queueCounterRows = (where = 'true') => `(
  SELECT namespace, task_queue, pending, running, sleeping FROM queue_counters WHERE ${where}
  UNION ALL
  SELECT namespace, task_queue, pending, running, sleeping FROM queue_counter_deltas WHERE ${where}
)`;

/**
 * The available_at (and wake_up_at) of a run parked until something else
 * wakes it (a signal it waits for without a timeout, a child it awaits): never
 * due by time, so no timer and no claim takes it until the waking statement
 * sets available_at = now(). Due-time scans skip it (see due-times.repository).
 */
export const UNTIL_WOKEN = `'infinity'::timestamptz`;

/** `$n` milliseconds as an interval. */
export const ms = (param: string) => `${param}::bigint * interval '1 millisecond'`;

/**
 * How long, in ms, workers have continuously had a frontend to heartbeat to:
 * since the oldest up_since among frontends that pulsed within `gapParam` ms;
 * -1 when none did. A worker's silence means something only after this covers
 * the stale threshold (invariant 12: an outage is not a dead worker).
 */
export const frontendsSettledMs = (gapParam: string) => `
  (SELECT coalesce(extract(epoch FROM now() - min(p.up_since)) * 1000, -1)
   FROM service_pulses p WHERE p.kind = 'frontend' AND p.pulsed_at > now() - ${ms(gapParam)})`;
