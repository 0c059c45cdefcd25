import type { ClaimedRun } from '@baton/persistence';

/**
 * Waiting polls set aside for starts (eager dispatch). While reserved, no
 * claim round serves them and their deadlines do not answer them; the holder
 * must call exactly one of `deliver` or `release`.
 */
export interface EagerReservation {
  /**
   * The places reserved, oldest poll first: a worker id for each run the
   * polls may take (a poll that asks for several tasks holds several). The
   * runs may be inserted claimed for these workers.
   */
  readonly places: readonly string[];
  /**
   * Answers each poll with the runs just inserted claimed for its places
   * (ClaimedRun.waiter: the place's index); a poll that got none waits
   * again. A claim nobody can receive is handed back.
   */
  deliver(runs: readonly ClaimedRun[]): void;
  /** No run was claimed for these polls (or the start failed): they wait again. */
  release(): void;
}

/** A matching dispatcher in this process that can set waiting polls aside for starts. */
export interface EagerDispatcher {
  /**
   * Up to `runs` places on the oldest polls of (namespace, queue) that ask
   * for `workflowType`, now reserved; undefined if none waits.
   */
  reserve(namespace: string, queue: string, workflowType: string, runs: number): EagerReservation | undefined;
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

  /** Up to `runs` places on waiting polls for runs of this queue and type, from one registered dispatcher. */
  reserve(namespace: string, queue: string, workflowType: string, runs = 1): EagerReservation | undefined {
    for (const dispatcher of this.dispatchers) {
      const reservation = dispatcher.reserve(namespace, queue, workflowType, runs);
      if (reservation) return reservation;
    }
    return undefined;
  }
}
