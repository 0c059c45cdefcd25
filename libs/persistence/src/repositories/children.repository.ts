import type { Sql } from '../sql';
import { startChild } from '../transitions';
import type { ChildStart, ChildStarted, Lease } from '../transitions';

/** Child workflows (ctx.child) under the parent's lease; the statements live in ../transitions/start-child.ts. */
export class ChildrenRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Starts the CHILD step's child run, or finds the one it already started
   * (a replay), records the step (its outcome once the child finished) and,
   * if asked, parks the parent until a child it awaits finishes: one short
   * transaction.
   */
  startChild(lease: Lease, cmd: ChildStart): Promise<ChildStarted> {
    return this.sql.transaction((q) => startChild(q, lease, cmd));
  }
}
