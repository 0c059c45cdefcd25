import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { BatonError, LIMITS } from '@baton/contracts';
import type { BatonConfig, PollReply, PollRequest, StepView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { ClaimRepository, DueTimesRepository, WorkersRepository } from '@baton/persistence';
import type { ClaimedRun } from '@baton/persistence';
import type { Task } from '@baton/proto';
import { BATON_CONFIG, BatonMetrics, LocalDispatch, RepeatLimitedLogger, traceClaim } from '@baton/runtime';
import type { EagerDispatcher, EagerReservation } from '@baton/runtime';
import { PollableWorkers } from './pollable-workers';
import { QueueState } from './queue-state';
import type { Round, Waiter } from './queue-state';
import { assembleTask, pollReply } from './task-assembler';

/** Most places (a waiter's slots each) served by one claim statement; LIMITS.pollMaxTasks must fit one. */
const MAX_CLAIM_BATCH = Math.max(100, LIMITS.pollMaxTasks);
/** Rounds in a row that claimed nothing yet asked to retry (a worker's row kept changing) before leaving it to the timer. */
const MAX_EMPTY_RETRIES = 3;

const keyOf = (namespace: string, queue: string) => `${namespace}\u0000${queue}`;

/**
 * Holds pending polls as FIFO waiters per (namespace, queue) and serves them
 * from PostgreSQL: each round runs one claim statement per type set for its
 * waiters (in batches of MAX_CLAIM_BATCH, oldest first), when a doorbell rings,
 * a parked run comes due, a poll arrives, or the fallback timer fires. One
 * round runs per queue at a time; a kick during a round asks for another. The
 * limits (max_concurrent, per-type limits, registered types) are enforced by
 * the claim statement itself, whatever a poll asks for.
 *
 * A type set found empty is not claimed for again until the queue rings (see
 * QueueState); a round that claims nothing reads when the queue's next parked
 * run comes due and arms a timer for it. A claim held back by a full rate
 * limit says when the limit frees its next claim, and the same timer is armed
 * for then: no round in between claims for those runs.
 *
 * Eager dispatch: a frontend in this process (LocalDispatch) may reserve a
 * waiting poll for a run it is starting and insert that run already claimed
 * for the poll's worker; the reservation then delivers it or puts the poll
 * back.
 */
@Injectable()
export class DispatcherService implements OnModuleInit, BeforeApplicationShutdown, EagerDispatcher {
  private readonly logger = new Logger(DispatcherService.name);
  /** During a database outage every round on every queue fails: one line per error every few seconds. */
  private readonly outageLog = new RepeatLimitedLogger(this.logger);
  private readonly queues = new Map<string, QueueState>();
  private readonly pollable: PollableWorkers;
  private fallback?: NodeJS.Timeout;
  private closed = false;
  private arrivals = 0;
  /** Reservations not yet delivered or released: shutdown waits for them (a start in flight may claim for one). */
  private readonly reservations = new Set<Promise<void>>();
  private unregister?: () => void;

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly claims: ClaimRepository,
    private readonly dueTimes: DueTimesRepository,
    private readonly events: RunEvents,
    workers: WorkersRepository,
    private readonly localDispatch: LocalDispatch,
    private readonly metrics: BatonMetrics,
  ) {
    this.pollable = new PollableWorkers(config.matchingWorkerCacheMs, (id, namespace, queue) =>
      workers.requirePollable(id, namespace, queue),
    );
  }

  onModuleInit(): void {
    this.unregister = this.localDispatch.register(this);
    // A lost doorbell or "work due" event is noticed within one interval: every queue rings and
    // reads its due time again.
    this.fallback = setInterval(() => {
      for (const [key, state] of this.queues) {
        if (state.idle) {
          state.close();
          this.queues.delete(key);
          continue;
        }
        state.dueKnown = false;
        this.ring(state);
      }
      this.pollable.prune();
    }, this.config.matchingFallbackMs);
    this.fallback.unref();
  }

  /**
   * Before the database closes: answer waiting polls empty, and let claim
   * statements in flight finish and answer their waiters with what they
   * claimed (answering those empty now would strand the runs they claim).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.unregister?.();
    clearInterval(this.fallback);
    const states = [...this.queues.values()];
    for (const state of states) {
      state.close();
      for (const waiter of [...state.waiters]) this.expire(waiter);
    }
    await Promise.allSettled([...states.map((state) => state.round?.done), ...this.reservations]);
    for (const state of states) for (const waiter of [...state.waiters]) this.answer(waiter, {});
    this.queues.clear();
  }

  async poll(request: PollRequest): Promise<PollReply> {
    if (this.closed) return {};
    // Numbered on arrival: the worker check below completes in any order.
    const seq = ++this.arrivals;
    let maxConcurrent: number;
    try {
      maxConcurrent = await this.pollable.require(request.workerId, request.namespace, request.queue);
    } catch (err) {
      if (err instanceof BatonError) return { error: err.toJSON() };
      throw err;
    }
    if (this.closed) return {};
    return new Promise<PollReply>((resolve) => {
      const types = [...new Set(request.workflowTypes)].sort();
      const waiter: Waiter = {
        request,
        types,
        typesKey: types.join('\u0000'),
        maxConcurrent,
        // The frontend checked maxTasks; the clamp is for a frontend that sends none (one) or an odd value.
        slots: Math.max(1, Math.min(request.maxTasks ?? 1, LIMITS.pollMaxTasks, maxConcurrent)),
        seq,
        state: 'waiting',
        resolve,
      };
      const state = this.stateOf(request.namespace, request.queue);
      const list = state.waiters;
      let at = list.length;
      while (at > 0 && list[at - 1]!.seq > seq) at--;
      list.splice(at, 0, waiter);
      waiter.timer = setTimeout(() => this.expire(waiter), Math.max(0, request.deadlineAt - Date.now()));
      // Not a ring: if its types were just found empty, the round claims nothing for it.
      this.kick(state);
    });
  }

  /**
   * Eager dispatch: sets aside places on the oldest polls of this queue
   * waiting for `workflowType` (not within the deadline margin), up to
   * `runs`, as a claim does (claim rounds and their deadlines leave them
   * alone), for starts that may insert their runs already claimed for the
   * polls' workers. A poll offers as many places as its slots, within its
   * worker's max_concurrent, as in a claim round. Undefined when none waits,
   * while a claim round of the queue runs (it serves the waiters in order),
   * or during shutdown.
   *
   * Until the start's statement is done, the queue's claim rounds wait (a
   * kick meanwhile asks for one after it): a round now could hand an older
   * PENDING run to a younger waiter while the oldest are set aside, and FIFO
   * would not hold.
   */
  reserve(namespace: string, queue: string, workflowType: string, runs: number): EagerReservation | undefined {
    if (this.closed) return undefined;
    const state = this.queues.get(keyOf(namespace, queue));
    if (!state || state.round) return undefined;
    const places = reservablePlaces(state.waiters, workflowType, Date.now() + this.config.pollDeadlineMarginMs, runs);
    if (places.length === 0) return undefined;
    const reserved = [...new Set(places)];
    for (const waiter of reserved) waiter.state = 'claiming';
    const reservedAt = Date.now();
    const hold: Round = { again: false };
    state.round = hold;
    let settle!: () => void;
    const pending = new Promise<void>((resolve) => (settle = resolve));
    this.reservations.add(pending);
    let finished = false;
    // Only the first of deliver / release counts.
    const finish = (work: () => Promise<void> | void) => {
      if (finished) return;
      finished = true;
      void new Promise<void>((resolve) => resolve(work()))
        .catch((err: unknown) => this.outageLog.error(`eager dispatch: ${(err as Error)?.message ?? err}`))
        .finally(() => {
          // The polls that got no run wait again, and a round serves them if work came meanwhile.
          for (const waiter of reserved) if (this.unclaim(waiter)) hold.again = true;
          if (state.round === hold) state.round = undefined;
          if (hold.again) this.kick(state);
          this.reservations.delete(pending);
          settle();
        });
    };
    return {
      places: places.map((waiter) => waiter.request.workerId),
      deliver: (claimed) => finish(() => this.deliverReserved(places, claimed, reservedAt)),
      release: () => finish(() => undefined),
    };
  }

  /** A doorbell: work may be claimable on this queue. */
  workAvailable(namespace: string, queue: string): void {
    const state = this.queues.get(keyOf(namespace, queue));
    if (state) this.ring(state);
  }

  /** A run on this queue becomes claimable at `dueAt` (epoch ms). Queues nobody waits on need no timer. */
  workDue(namespace: string, queue: string, dueAt: number): void {
    this.queues.get(keyOf(namespace, queue))?.due.arm(dueAt);
  }

  /** A worker deregistered, is draining, went OFFLINE or registered again. */
  workerChanged(workerId: string): void {
    this.pollable.changed(workerId);
  }

  private stateOf(namespace: string, queue: string): QueueState {
    const key = keyOf(namespace, queue);
    let state = this.queues.get(key);
    if (!state) {
      state = new QueueState(namespace, queue, (due) => this.ring(due));
      this.queues.set(key, state);
    }
    return state;
  }

  /** Something may have become claimable: forget "empty" findings and claim for the waiters. */
  private ring(state: QueueState): void {
    state.ring();
    if (state.waiters.length > 0) this.kick(state);
  }

  private kick(state: QueueState): void {
    if (state.round) {
      state.round.again = true;
      return;
    }
    const round: Round = { again: true };
    state.round = round;
    round.done = this.drain(state, round);
  }

  private async drain(state: QueueState, round: Round): Promise<void> {
    let emptyRetries = 0;
    try {
      while (round.again && !this.closed) {
        round.again = false;
        const { claimed, retry } = await this.claimRound(state);
        emptyRetries = claimed > 0 || !retry ? 0 : emptyRetries + 1;
        if (retry && emptyRetries <= MAX_EMPTY_RETRIES) round.again = true;
      }
    } catch (err) {
      this.outageLog.error(`claim round failed: ${(err as Error).message}`);
    } finally {
      state.round = undefined;
    }
  }

  /**
   * One claim statement per type set and batch, oldest waiters first, for
   * type sets not known to be empty. `retry`: some waiter may be servable at
   * once (the statement held runs back or saw a worker's counts change under
   * it).
   */
  private async claimRound(state: QueueState): Promise<{ claimed: number; retry: boolean }> {
    const rings = state.ringCount;
    const startedAt = Date.now();
    // Never claim for a waiter whose deadline has (nearly) passed: nobody might receive the run.
    const cutoff = Date.now() + this.config.pollDeadlineMarginMs;
    const eligible = state.waiters.filter(
      (w) => w.state === 'waiting' && w.request.deadlineAt > cutoff && w.types.length > 0 && !state.isEmpty(w.typesKey),
    );
    let claimed = 0;
    let retry = false;
    let throttledUntil = Infinity;
    const drained: string[] = [];
    for (const typesKey of new Set(eligible.map((w) => w.typesKey))) {
      const group = placesOf(eligible.filter((w) => w.typesKey === typesKey));
      let groupRetry = false;
      for (const batch of claimBatches(group)) {
        if (this.closed) break;
        const outcome = await this.claimFor(batch);
        claimed += outcome.claimed;
        groupRetry ||= outcome.retry;
        if (outcome.throttledMs !== null) throttledUntil = Math.min(throttledUntil, Date.now() + outcome.throttledMs);
        // No more claimable runs of these types: later batches would find none either.
        if (outcome.exhausted) {
          if (!groupRetry) drained.push(typesKey);
          break;
        }
      }
      retry ||= groupRetry;
    }
    if (drained.length > 0) await this.noteDrained(state, drained, rings, claimed === 0, startedAt);
    // Held back by a full rate limit: claimed again when its window frees a claim, not before.
    if (throttledUntil !== Infinity) state.throttled(throttledUntil);
    return { claimed, retry };
  }

  /**
   * Records type sets found empty. A round that claimed nothing (or a queue
   * whose next due time is not known) first reads when the next parked run
   * comes due and arms the queue's timer for it: without that, "empty" could
   * hide a retry coming due. The read looks back over the round (from
   * `roundStartedAt`), so a run that came due while its claims ran is due
   * now, not missed until the next ring (NEXT_AVAILABLE).
   */
  private async noteDrained(
    state: QueueState,
    typesKeys: string[],
    rings: number,
    claimedNothing: boolean,
    roundStartedAt: number,
  ) {
    if (claimedNothing || !state.dueKnown) {
      try {
        await state.due.refresh(() =>
          this.dueTimes.nextAvailable(state.namespace, state.queue, Date.now() - roundStartedAt),
        );
        state.dueKnown = true;
        state.rearmThrottle();
      } catch (err) {
        this.outageLog.warn(
          `could not read when ${state.namespace}/${state.queue} comes due: ${(err as Error).message}`,
        );
        return;
      }
    }
    for (const typesKey of typesKeys) state.markEmpty(typesKey, rings);
  }

  /**
   * One claim statement for a batch of waiters, each taking as many places
   * as its slots (its worker's id that many times, in order: the statement
   * gives a worker's n-th place a run only while it has room for n more).
   * Each waiter that got any run is answered with all of its runs.
   */
  private async claimFor(
    batch: Place[],
  ): Promise<{ claimed: number; retry: boolean; exhausted: boolean; throttledMs: number | null }> {
    const { namespace, queue } = batch[0]!.waiter.request;
    const places = batch.flatMap(({ waiter, slots }) => Array.from({ length: slots }, () => waiter));
    for (const { waiter } of batch) waiter.state = 'claiming';
    const startedAt = Date.now();
    try {
      const result = await this.claims.claimBatch(
        namespace,
        queue,
        places.map((w) => ({ workerId: w.request.workerId })),
        batch[0]!.waiter.types,
        this.config.claimAckTimeoutMs,
      );
      this.metrics.runsClaimed(namespace, queue, result.runs);
      for (const run of result.runs) traceClaim(run, namespace, queue, startedAt);
      const replayed = result.runs.filter((run) => run.claims > 1).map((run) => run.runId);
      const histories = await this.claims.histories(replayed).catch(async (err: unknown) => {
        // Nobody will receive these claims: hand them back now rather than at lease expiry (invariant 4).
        await Promise.allSettled(result.runs.map((run) => this.handBack(run)));
        throw err;
      });
      // A waiter answered meanwhile (should not happen; belt and braces): nobody will receive its claims.
      const unanswerable = this.answerPlaces(places, result.runs, (run) => histories.get(run.runId) ?? []);
      for (const run of unanswerable) void this.handBack(run).catch(() => undefined);
      return {
        claimed: result.runs.length,
        retry: result.retry,
        exhausted: result.exhausted,
        throttledMs: result.throttledMs,
      };
    } finally {
      for (const { waiter } of batch) this.unclaim(waiter);
    }
  }

  /** A waiter a claim did not serve waits again; answered empty if its deadline passed or matching is closing. */
  private unclaim(w: Waiter): boolean {
    if (w.state !== 'claiming') return false;
    w.state = 'waiting';
    if (this.closed || w.request.deadlineAt <= Date.now()) this.expire(w);
    return w.state === 'waiting';
  }

  /**
   * Answers reserved waiters with the runs just inserted claimed for their
   * places (no history yet). A run whose waiter was answered meanwhile, or
   * that comes while matching is closing, nobody may receive: it is handed
   * back, as claimFor does.
   */
  private async deliverReserved(places: Waiter[], runs: readonly ClaimedRun[], reservedAt: number): Promise<void> {
    if (this.closed) {
      await Promise.all(runs.map((run) => this.handBack(run)));
      return;
    }
    for (const run of runs) {
      const request = places[run.waiter]?.request;
      if (request) traceClaim(run, request.namespace, request.queue, reservedAt, true);
    }
    const unanswerable = this.answerPlaces(places, runs, () => []);
    await Promise.all(unanswerable.map((run) => this.handBack(run)));
  }

  /**
   * Answers each waiter still inside the claim with all the runs claimed for
   * its places (ClaimedRun.waiter indexes `places`), each with its history;
   * returns the runs whose waiter was answered meanwhile: nobody will receive
   * those claims.
   */
  private answerPlaces(
    places: readonly Waiter[],
    runs: readonly ClaimedRun[],
    historyOf: (run: ClaimedRun) => StepView[],
  ): ClaimedRun[] {
    const tasksOf = new Map<Waiter, Task[]>();
    const unanswerable: ClaimedRun[] = [];
    for (const run of runs) {
      const waiter = places[run.waiter];
      if (waiter?.state !== 'claiming') {
        unanswerable.push(run);
        continue;
      }
      const { namespace, queue } = waiter.request;
      const tasks = tasksOf.get(waiter) ?? [];
      tasks.push(assembleTask(namespace, queue, run, historyOf(run)));
      tasksOf.set(waiter, tasks);
    }
    for (const [waiter, tasks] of tasksOf) this.answer(waiter, pollReply(tasks));
    return unanswerable;
  }

  /** Releases a claim nobody will receive and rings its queue (every replica), so it is claimed again now. */
  private async handBack(run: ClaimedRun): Promise<void> {
    const released = await this.claims.release(run);
    if (!released) return;
    this.metrics.claimReleased(run.runId, released, 'unanswered');
    this.events.workAvailable(released.namespace, released.queue);
  }

  private expire(waiter: Waiter): void {
    if (waiter.state === 'waiting') this.answer(waiter, {});
  }

  private answer(waiter: Waiter, reply: PollReply): void {
    if (waiter.state === 'done') return;
    waiter.state = 'done';
    clearTimeout(waiter.timer);
    const list = this.queues.get(keyOf(waiter.request.namespace, waiter.request.queue))?.waiters;
    if (list) {
      const index = list.indexOf(waiter);
      if (index >= 0) list.splice(index, 1);
    }
    waiter.resolve(reply);
  }
}

/** A waiter in one claim round, with the slots it may fill in it (its worker's room caps them). */
interface Place {
  waiter: Waiter;
  slots: number;
}

/**
 * The waiters' places, oldest first: each its slots, within what its
 * worker's max_concurrent leaves (a worker's surplus slots cannot be served
 * at once).
 */
function placesOf(waiters: readonly Waiter[]): Place[] {
  const perWorker = new Map<string, number>();
  const places: Place[] = [];
  for (const waiter of waiters) {
    const used = perWorker.get(waiter.request.workerId) ?? 0;
    const slots = Math.min(waiter.slots, waiter.maxConcurrent - used);
    if (slots <= 0) continue;
    perWorker.set(waiter.request.workerId, used + slots);
    places.push({ waiter, slots });
  }
  return places;
}

/**
 * Up to `runs` places for eager dispatch, one entry per place (a waiter as
 * often as its places), on the oldest waiting polls for `workflowType`
 * whose deadlines are after `cutoff` (epoch ms).
 */
function reservablePlaces(waiters: readonly Waiter[], workflowType: string, cutoff: number, runs: number): Waiter[] {
  const open = waiters.filter(
    (w) => w.state === 'waiting' && w.request.deadlineAt > cutoff && w.types.includes(workflowType),
  );
  const places: Waiter[] = [];
  for (const { waiter, slots } of placesOf(open)) {
    for (let i = 0; i < slots && places.length < runs; i++) places.push(waiter);
    if (places.length >= runs) break;
  }
  return places;
}

/** Consecutive waiters (oldest first) in batches of at most MAX_CLAIM_BATCH places; a waiter is never split. */
function claimBatches(group: readonly Place[]): Place[][] {
  const batches: Place[][] = [];
  let current: Place[] = [];
  let places = 0;
  for (const place of group) {
    if (current.length > 0 && places + place.slots > MAX_CLAIM_BATCH) {
      batches.push(current);
      current = [];
      places = 0;
    }
    current.push(place);
    places += place.slots;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
