/** Signals (`client.signal`, `ctx.waitForSignal`): their limits, and the step id of a wait that names none. */
export const SIGNAL_LIMITS = Object.freeze({
  /**
   * A signal name's UTF-8 bytes. Below a step id's 255 so that the default
   * step id of a wait (signalStepId: the name plus at most 15 bytes) fits.
   */
  nameBytes: 200,
  /**
   * Signals one run may hold unconsumed. A run that never waits for what it
   * is sent would otherwise grow without bound; beyond it a send is refused
   * with RESOURCE_EXHAUSTED.
   */
  maxBufferedPerRun: 10_000,
  /** A send's request id (its idempotency key within the run): UTF-8 bytes. */
  requestIdBytes: 200,
});

/**
 * The step id of the `occurrence`-th (from 1) `ctx.waitForSignal(name)` in a
 * run that passes no `stepId`: `signal:<name>#<occurrence>`. Deterministic,
 * since a replay makes the same waits in the same order.
 */
export function signalStepId(name: string, occurrence: number): string {
  return `signal:${name}#${occurrence}`;
}
