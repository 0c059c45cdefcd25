import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { BatonError } from '@baton/contracts';
import type { BatonConfig, PollReply, PollRequest } from '@baton/contracts';
import { ClaimRepository, WorkersRepository } from '@baton/persistence';
import { BATON_CONFIG } from '@baton/runtime';
import { assembleTask } from './task-assembler';

interface Waiter {
  request: PollRequest;
  /** The asked types, deduplicated and sorted: waiters with the same key share a claim statement. */
  types: string[];
  typesKey: string;
  /** The worker's max_concurrent when it polled: more of its waiters than that never fit one claim. */
  maxConcurrent: number;
  /** Arrival order: the list is kept sorted by it, so the oldest poll is served first. */
  seq: number;
  /** waiting: in the queue; claiming: inside a claim statement (its timer must not answer it). */
  state: 'waiting' | 'claiming' | 'done';
  timer?: NodeJS.Timeout;
  resolve(reply: PollReply): void;
}

/** Most waiters served by one claim statement. */
const MAX_CLAIM_BATCH = 100;
/** Rounds in a row that claimed nothing yet asked to retry (a worker's row kept changing) before leaving it to the timer. */
const MAX_EMPTY_RETRIES = 3;

const keyOf = (namespace: string, queue: string) => `${namespace}\u0000${queue}`;

/**
 * Holds pending polls as FIFO waiters per (namespace, queue) and serves them
 * from PostgreSQL: each round runs one claim statement per type set for its
 * waiters (in batches of MAX_CLAIM_BATCH, oldest first), when a doorbell rings,
 * a poll arrives, or the fallback timer fires. One round runs per queue at a
 * time; a kick during a round asks for another. The limits (max_concurrent,
 * per-type limits, registered types) are enforced by the claim statement
 * itself, whatever a poll asks for.
 */
@Injectable()
export class DispatcherService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(DispatcherService.name);
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly rounds = new Map<string, { again: boolean; done?: Promise<void> }>();
  private fallback?: NodeJS.Timeout;
  private closed = false;
  private arrivals = 0;

  constructor(
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly claims: ClaimRepository,
    private readonly workers: WorkersRepository,
  ) {}

  onModuleInit(): void {
    // A lost doorbell (or a retry/sleep coming due) is noticed within one interval.
    this.fallback = setInterval(() => {
      for (const [key, list] of this.waiters) if (list.length > 0) this.kick(key);
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
    clearInterval(this.fallback);
    for (const list of this.waiters.values()) for (const waiter of [...list]) this.expire(waiter);
    await Promise.allSettled([...this.rounds.values()].map((round) => round.done));
    for (const list of this.waiters.values()) for (const waiter of [...list]) this.answer(waiter, {});
    this.waiters.clear();
  }

  async poll(request: PollRequest): Promise<PollReply> {
    if (this.closed) return {};
    // Numbered on arrival: the worker check below completes in any order.
    const seq = ++this.arrivals;
    let maxConcurrent: number;
    try {
      ({ maxConcurrent } = await this.workers.requirePollable(request.workerId, request.namespace, request.queue));
    } catch (err) {
      if (err instanceof BatonError) return { error: err.toJSON() };
      throw err;
    }
    return new Promise<PollReply>((resolve) => {
      const types = [...new Set(request.workflowTypes)].sort();
      const waiter: Waiter = {
        request,
        types,
        typesKey: types.join('\u0000'),
        maxConcurrent,
        seq,
        state: 'waiting',
        resolve,
      };
      const key = keyOf(request.namespace, request.queue);
      const list = this.waiters.get(key) ?? [];
      let at = list.length;
      while (at > 0 && list[at - 1]!.seq > seq) at--;
      list.splice(at, 0, waiter);
      this.waiters.set(key, list);
      waiter.timer = setTimeout(() => this.expire(waiter), Math.max(0, request.deadlineAt - Date.now()));
      this.kick(key);
    });
  }

  /** A doorbell: work may be claimable on this queue. */
  workAvailable(namespace: string, queue: string): void {
    const key = keyOf(namespace, queue);
    if (this.waiters.get(key)?.length) this.kick(key);
  }

  private kick(key: string): void {
    const running = this.rounds.get(key);
    if (running) {
      running.again = true;
      return;
    }
    const round: { again: boolean; done?: Promise<void> } = { again: true };
    this.rounds.set(key, round);
    round.done = this.drain(key, round);
  }

  private async drain(key: string, round: { again: boolean }): Promise<void> {
    let emptyRetries = 0;
    try {
      while (round.again && !this.closed) {
        round.again = false;
        const { claimed, retry } = await this.claimRound(key);
        emptyRetries = claimed > 0 || !retry ? 0 : emptyRetries + 1;
        if (retry && emptyRetries <= MAX_EMPTY_RETRIES) round.again = true;
      }
    } catch (err) {
      this.logger.error(`claim round failed: ${(err as Error).message}`);
    } finally {
      this.rounds.delete(key);
    }
  }

  /**
   * One claim statement per type set and batch, oldest waiters first. `retry`:
   * some waiter may be servable at once (the statement held runs back or saw a
   * worker's counts change under it).
   */
  private async claimRound(key: string): Promise<{ claimed: number; retry: boolean }> {
    const list = this.waiters.get(key) ?? [];
    // Never claim for a waiter whose deadline has (nearly) passed: nobody might receive the run.
    const cutoff = Date.now() + this.config.pollDeadlineMarginMs;
    const eligible = list.filter((w) => w.state === 'waiting' && w.request.deadlineAt > cutoff && w.types.length > 0);
    let claimed = 0;
    let retry = false;
    for (const typesKey of new Set(eligible.map((w) => w.typesKey))) {
      // A worker's surplus polls (more than its max_concurrent) cannot be served in this round.
      const perWorker = new Map<string, number>();
      const group = eligible.filter((w) => {
        if (w.typesKey !== typesKey) return false;
        const n = (perWorker.get(w.request.workerId) ?? 0) + 1;
        perWorker.set(w.request.workerId, n);
        return n <= w.maxConcurrent;
      });
      for (let at = 0; at < group.length && !this.closed; at += MAX_CLAIM_BATCH) {
        const outcome = await this.claimFor(group.slice(at, at + MAX_CLAIM_BATCH));
        claimed += outcome.claimed;
        retry ||= outcome.retry;
        // No more claimable runs of these types: later batches would find none either.
        if (outcome.exhausted) break;
      }
    }
    return { claimed, retry };
  }

  private async claimFor(batch: Waiter[]): Promise<{ claimed: number; retry: boolean; exhausted: boolean }> {
    const { namespace, queue } = batch[0]!.request;
    for (const w of batch) w.state = 'claiming';
    try {
      const result = await this.claims.claimBatch(
        namespace,
        queue,
        batch.map((w) => ({ workerId: w.request.workerId })),
        batch[0]!.types,
        this.config.claimAckTimeoutMs,
      );
      const replayed = result.runs.filter((run) => run.claims > 1).map((run) => run.runId);
      const histories = await this.claims.histories(replayed).catch(async (err: unknown) => {
        // Nobody will receive these claims: hand them back now rather than at lease expiry (invariant 4).
        await Promise.allSettled(result.runs.map((run) => this.claims.release(run)));
        throw err;
      });
      for (const run of result.runs) {
        const waiter = batch[run.waiter]!;
        if (waiter.state === 'claiming') {
          this.answer(waiter, { task: assembleTask(namespace, queue, run, histories.get(run.runId) ?? []) });
        } else {
          // Answered meanwhile (should not happen; belt and braces): nobody will receive this claim.
          void this.claims.release(run).catch(() => undefined);
        }
      }
      return { claimed: result.runs.length, retry: result.retry, exhausted: result.exhausted };
    } finally {
      for (const w of batch) {
        if (w.state !== 'claiming') continue;
        w.state = 'waiting';
        if (this.closed || w.request.deadlineAt <= Date.now()) this.expire(w);
      }
    }
  }

  private expire(waiter: Waiter): void {
    if (waiter.state === 'waiting') this.answer(waiter, {});
  }

  private answer(waiter: Waiter, reply: PollReply): void {
    if (waiter.state === 'done') return;
    waiter.state = 'done';
    clearTimeout(waiter.timer);
    const key = keyOf(waiter.request.namespace, waiter.request.queue);
    const list = this.waiters.get(key);
    if (list) {
      const index = list.indexOf(waiter);
      if (index >= 0) list.splice(index, 1);
      if (list.length === 0) this.waiters.delete(key);
    }
    waiter.resolve(reply);
  }
}
