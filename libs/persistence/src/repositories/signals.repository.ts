import type { Sql } from '../sql';
import { sendSignal, waitForSignal } from '../transitions';
import type { CompletedStep, Lease, SignalCommand, SignalSent, SignalWait, SignalWaitStep } from '../transitions';

/** Signals, sent by clients and waited for by workflows (the statements live in ../transitions/signal.ts). */
export class SignalsRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Stores a signal for a live run (NOT_FOUND, or FAILED_PRECONDITION for a
   * finished one) and wakes the run if it is parked on a wait for that name.
   */
  send(cmd: SignalCommand): Promise<SignalSent> {
    return this.sql.transaction((q) => sendSignal(q, cmd));
  }

  /**
   * A wait under the lease: the oldest unconsumed signal of its name, or none
   * once its timeout has passed, or the run parked. The step completed just
   * before it is recorded in the same commit.
   */
  waitForSignal(lease: Lease, wait: SignalWaitStep, lastStep: CompletedStep | null = null): Promise<SignalWait> {
    return this.sql.transaction((q) => waitForSignal(q, lease, wait, lastStep));
  }
}
