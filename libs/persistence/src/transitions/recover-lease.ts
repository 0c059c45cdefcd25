import type { Sql } from '../sql';
import { movedRun } from './moved';
import type { MovedRun } from './moved';
import { budgetParams, recoverRuns, settledFor } from './recover';
import type { RecoveryBudget, Settledness } from './recover';

/**
 * RUNNING runs whose lease expired. An undelivered claim waits out its short
 * first lease, a delivered one its full lease; either only once workers have
 * had that long to speak since the last outage ($6 pulse gap), so an outage
 * never looks like a silent worker. $5 batch, $7 delivered window, $8
 * undelivered window.
 */
export const RECOVER_EXPIRED_LEASES = recoverRuns(`
  SELECT r.id, r.delivered FROM workflow_runs r
  WHERE r.status = 'RUNNING' AND r.locked_until < now()
    AND ${settledFor('(CASE WHEN r.delivered THEN $7 ELSE $8 END)', '$6')}
  ORDER BY r.locked_until LIMIT $5 FOR UPDATE SKIP LOCKED`);

export interface LeaseWindows {
  /** Reachable time after an outage before a delivered run's expired lease counts (the lease duration). */
  deliveredMs: number;
  /** Reachable time after an outage before an undelivered claim's expired lease counts (the acknowledgement timeout). */
  undeliveredMs: number;
}

export async function recoverExpiredLeases(
  sql: Sql,
  budget: RecoveryBudget,
  settled: Settledness,
  windows: LeaseWindows,
  batchSize: number,
): Promise<MovedRun[]> {
  const rows = await sql.rows(RECOVER_EXPIRED_LEASES, [
    ...budgetParams(budget, 'lease expired'),
    batchSize,
    settled.pulseGapMs,
    windows.deliveredMs,
    windows.undeliveredMs,
  ]);
  return rows.map(movedRun);
}
