import type { Sql } from '../sql';
import { expireStaleWorkers, failPastDeadline, recoverExpiredLeases, wakeSleepers } from '../transitions';
import type { LeaseWindows, MovedRun, RecoveryBudget, Settledness } from '../transitions';

/**
 * The watchdog's transitions (DESIGN §5 invariants 3, 8 and 12). Each claims
 * its rows with FOR UPDATE SKIP LOCKED, so two watchdog replicas never move
 * the same run, and works in bounded batches.
 */
export class RecoveryRepository {
  constructor(private readonly sql: Sql) {}

  wakeSleepers(batchSize: number, graceMs: number): Promise<MovedRun[]> {
    return wakeSleepers(this.sql, batchSize, graceMs);
  }

  recoverExpiredLeases(
    budget: RecoveryBudget,
    settled: Settledness,
    windows: LeaseWindows,
    batchSize: number,
  ): Promise<MovedRun[]> {
    return recoverExpiredLeases(this.sql, budget, settled, windows, batchSize);
  }

  expireStaleWorkers(
    budget: RecoveryBudget,
    settled: Settledness,
    staleMs: number,
    batchSize: number,
  ): Promise<{ workers: string[]; runs: MovedRun[] }> {
    return expireStaleWorkers(this.sql, budget, settled, staleMs, batchSize);
  }

  failPastDeadline(batchSize: number): Promise<MovedRun[]> {
    return failPastDeadline(this.sql, batchSize);
  }
}
