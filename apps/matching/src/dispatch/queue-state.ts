import type { PollReply, PollRequest } from '@baton/contracts';
import { DueTimer } from '@baton/runtime';

export interface Waiter {
  request: PollRequest;
  /** The asked types, deduplicated and sorted: waiters with the same key share a claim statement. */
  types: string[];
  typesKey: string;
  /** The worker's max_concurrent when it polled: more of its waiters' slots than that never fit one claim. */
  maxConcurrent: number;
  /** Most tasks its reply may carry (the poll's maxTasks, within limits): that many places in a claim. */
  slots: number;
  /** Arrival order: the list is kept sorted by it, so the oldest poll is served first. */
  seq: number;
  /** waiting: in the queue; claiming: inside a claim statement (its timer must not answer it). */
  state: 'waiting' | 'claiming' | 'done';
  timer?: NodeJS.Timeout;
  resolve(reply: PollReply): void;
}

export interface Round {
  again: boolean;
  done?: Promise<void>;
}

/**
 * One (namespace, queue): its waiters, its claim round, and what matching
 * knows about its runs, so a poll arriving on a queue just found empty costs
 * no claim statement.
 *
 * "Empty for a type set" is recorded only when a claim found fewer claimable
 * runs of those types than waiters with room for one (the statement's
 * `exhausted`, which counts only waiters the limits let claim, so a worker at
 * its limits never makes a queue look empty), and only while the queue's next
 * due time is known. Anything that can make a run claimable rings the queue
 * and forgets every such finding: a doorbell, the due time coming, a claim
 * handed back, the fallback tick. A ring during a claim makes that claim's
 * finding stale before it is recorded.
 */
export class QueueState {
  readonly waiters: Waiter[] = [];
  round?: Round;
  /** The earliest future available_at on this queue (a retry, a sleeper, a recovery after backoff). */
  readonly due: DueTimer;
  /** Whether `due` was read from the database since it last fired or the fallback tick: only then is "empty" trusted. */
  dueKnown = false;
  private rings = 0;
  private readonly empty = new Set<string>();
  /** When a full rate limit of this queue or of an asked type frees its next claim (epoch ms); 0: none known. */
  private throttledUntil = 0;

  constructor(
    readonly namespace: string,
    readonly queue: string,
    onDue: (state: QueueState) => void,
  ) {
    this.due = new DueTimer(() => {
      this.dueKnown = false;
      onDue(this);
    });
  }

  /** Something may have become claimable: forget every "empty" finding. */
  ring(): void {
    this.rings++;
    this.empty.clear();
  }

  /** Taken before a claim: a finding is recorded only if nothing rang since. */
  get ringCount(): number {
    return this.rings;
  }

  markEmpty(typesKey: string, ringCount: number): void {
    if (ringCount === this.rings && this.dueKnown) this.empty.add(typesKey);
  }

  isEmpty(typesKey: string): boolean {
    return this.empty.has(typesKey);
  }

  /**
   * A claim was held back by a full rate limit until `at` (epoch ms): the due
   * timer fires then (its ring claims again). Kept, so that a refresh of the
   * due time from the database (which knows only parked runs) keeps it.
   */
  throttled(at: number): void {
    this.throttledUntil = at;
    this.due.arm(at);
  }

  /** After `due` was refreshed from the database: a rate limit's time still ahead stays armed. */
  rearmThrottle(): void {
    if (this.throttledUntil > Date.now()) this.due.arm(this.throttledUntil);
  }

  /** Nothing worth keeping: no waiter, no claim in progress. */
  get idle(): boolean {
    return this.waiters.length === 0 && !this.round;
  }

  close(): void {
    this.due.close();
  }
}
