import { LIMITS } from '@baton/contracts';

/** A poll on its way: the types it asked for and the run slots it reserved (its max_tasks). */
export interface PollReservation {
  types: readonly string[];
  slots: number;
}

export interface PollCapacity {
  /** Most runs the worker holds at once. */
  maxConcurrent: number;
  /** Runs held now, by workflow type. */
  running: ReadonlyMap<string, number>;
  /** Polls outstanding (not counting the one being planned). */
  outstanding: Iterable<PollReservation>;
  /** Types the worker has handlers for, in the order it asks for them. */
  handlerTypes: readonly string[];
  /** Most runs of one type held at once; a type not listed has no limit of its own. */
  typeLimits?: Readonly<Record<string, number>>;
}

/**
 * The next poll a worker may send: the types it has room for and how many
 * tasks it may ask for, or null while it has no room at all. Every slot a
 * poll asks for is reserved until its reply arrives, so the polls outstanding
 * together never ask for more runs than the worker can hold, overall or of a
 * limited type. A poll that includes a limited type asks for no more than
 * that type's room: the server may answer with runs of that type only.
 */
export function nextPoll(capacity: PollCapacity): PollReservation | null {
  const outstanding = [...capacity.outstanding];
  let held = 0;
  for (const count of capacity.running.values()) held += count;
  const reserved = outstanding.reduce((sum, poll) => sum + poll.slots, 0);
  let slots = Math.min(capacity.maxConcurrent - held - reserved, LIMITS.pollMaxTasks);
  if (slots <= 0) return null;
  const limits = capacity.typeLimits ?? {};
  const types: string[] = [];
  for (const type of capacity.handlerTypes) {
    const limit = limits[type];
    if (limit === undefined) {
      types.push(type);
      continue;
    }
    const polling = outstanding.reduce((sum, poll) => sum + (poll.types.includes(type) ? poll.slots : 0), 0);
    const room = limit - (capacity.running.get(type) ?? 0) - polling;
    if (room <= 0) continue;
    types.push(type);
    slots = Math.min(slots, room);
  }
  return types.length === 0 ? null : { types, slots };
}
