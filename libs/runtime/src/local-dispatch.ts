import type { ClaimedRun } from '@baton/persistence';

/**
 * A waiting poll set aside for one start (eager dispatch). While reserved, no
 * claim round serves it and its deadline does not answer it; the holder must
 * call exactly one of `deliver` or `release`.
 */
export interface EagerReservation {
  /** The worker whose poll is reserved: the run may be inserted claimed for it. */
  readonly workerId: string;
  /** Answers the poll with the run just inserted claimed for `workerId` (or hands the claim back if nobody can receive it). */
  deliver(run: ClaimedRun): void;
  /** The run was not claimed for this poll (or the start failed): the poll waits again. */
  release(): void;
}

/** A matching dispatcher in this process that can set a waiting poll aside for a start. */
export interface EagerDispatcher {
  /** The oldest waiting poll of (namespace, queue) that asks for `workflowType`, now reserved; undefined if none. */
  reserve(namespace: string, queue: string, workflowType: string): EagerReservation | undefined;
}

/**
 * The dispatchers of the matching apps running in this process, for the
 * frontend in the same process to hand a new run straight to a waiting poll.
 * Created by whoever starts several apps in one process (the all-in-one
 * launcher, the test harness) and passed to each in `AppDeps`; a deployment
 * of separate processes has none registered and keeps the doorbell path.
 */
export class LocalDispatch {
  private readonly dispatchers = new Set<EagerDispatcher>();

  /** Registers a dispatcher; the returned function unregisters it (at its shutdown). */
  register(dispatcher: EagerDispatcher): () => void {
    this.dispatchers.add(dispatcher);
    return () => this.dispatchers.delete(dispatcher);
  }

  /** A waiting poll reserved for a run of this queue and type, from any registered dispatcher. */
  reserve(namespace: string, queue: string, workflowType: string): EagerReservation | undefined {
    for (const dispatcher of this.dispatchers) {
      const reservation = dispatcher.reserve(namespace, queue, workflowType);
      if (reservation) return reservation;
    }
    return undefined;
  }
}
