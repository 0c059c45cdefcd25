import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { BatonError } from '@baton/contracts';
import type { BatonConfig, PollReply, PollRequest } from '@baton/contracts';
import { ClaimRepository, WorkersRepository } from '@baton/persistence';
import { BATON_CONFIG } from '@baton/runtime';
import { assembleTask } from './task-assembler';

interface Waiter {
  request: PollRequest;
  typesKey: string;
  /** waiting: in the queue; claiming: inside a claim statement (its timer must not answer it). */
  state: 'waiting' | 'claiming' | 'done';
  timer?: NodeJS.Timeout;
  resolve(reply: PollReply): void;
}

/** Most waiters served by one claim statement. */
const MAX_CLAIM_BATCH = 100;

const keyOf = (namespace: string, queue: string) => `${namespace}\u0000${queue}`;

/**
 * Holds pending polls as FIFO waiters per (namespace, queue) and serves them
 * from PostgreSQL: one claim statement per round for all waiters with the same
 * type set, run when a doorbell rings, a poll arrives, or the fallback timer
 * fires. One round runs per queue at a time; a kick during a round asks for
 * another.
 */
@Injectable()
export class DispatcherService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger(DispatcherService.name);
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly rounds = new Map<string, { again: boolean; done?: Promise<void> }>();
  private fallback?: NodeJS.Timeout;
  private closed = false;

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

  /** Before the database closes: answer every waiter empty and let running claim rounds finish. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearInterval(this.fallback);
    for (const list of this.waiters.values()) for (const waiter of [...list]) this.answer(waiter, {});
    this.waiters.clear();
    await Promise.allSettled([...this.rounds.values()].map((round) => round.done));
  }

  async poll(request: PollRequest): Promise<PollReply> {
    if (this.closed) return {};
    try {
      await this.workers.requirePollable(request.workerId, request.namespace, request.queue);
    } catch (err) {
      if (err instanceof BatonError) return { error: err.toJSON() };
      throw err;
    }
    return new Promise<PollReply>((resolve) => {
      const waiter: Waiter = {
        request,
        typesKey: [...new Set(request.workflowTypes)].sort().join('\u0000'),
        state: 'waiting',
        resolve,
      };
      const key = keyOf(request.namespace, request.queue);
      const list = this.waiters.get(key) ?? [];
      list.push(waiter);
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
    try {
      while (round.again && !this.closed) {
        round.again = false;
        if (await this.claimRound(key)) round.again = true;
      }
    } catch (err) {
      this.logger.error(`claim round failed: ${(err as Error).message}`);
    } finally {
      this.rounds.delete(key);
    }
  }

  /** Returns true when a batch was filled completely, so more work may be waiting. */
  private async claimRound(key: string): Promise<boolean> {
    const list = this.waiters.get(key) ?? [];
    // Never claim for a waiter whose deadline has (nearly) passed: nobody might receive the run.
    const cutoff = Date.now() + this.config.pollDeadlineMarginMs;
    const eligible = list.filter((w) => w.state === 'waiting' && w.request.deadlineAt > cutoff);
    let filled = false;
    for (const typesKey of new Set(eligible.map((w) => w.typesKey))) {
      const group = eligible.filter((w) => w.typesKey === typesKey).slice(0, MAX_CLAIM_BATCH);
      if (group[0]!.request.workflowTypes.length === 0) continue;
      const served = await this.claimFor(group);
      if (served === group.length) filled = true;
    }
    return filled;
  }

  private async claimFor(group: Waiter[]): Promise<number> {
    const { namespace, queue, workflowTypes } = group[0]!.request;
    for (const w of group) w.state = 'claiming';
    try {
      const claimed = await this.claims.claimBatch(
        namespace,
        queue,
        group.map((w) => ({ workerId: w.request.workerId })),
        workflowTypes,
        this.config.leaseDurationMs,
      );
      const replayed = claimed.filter((run) => run.claims > 1).map((run) => run.runId);
      const histories = await this.claims.histories(replayed);
      for (const run of claimed) {
        // Waiters of one worker are interchangeable; SQL paired runs with waiters oldest first.
        const waiter = group.find((w) => w.state === 'claiming' && w.request.workerId === run.workerId)!;
        this.answer(waiter, { task: assembleTask(namespace, queue, run, histories.get(run.runId) ?? []) });
      }
      return claimed.length;
    } finally {
      for (const w of group) {
        if (w.state !== 'claiming') continue;
        w.state = 'waiting';
        if (w.request.deadlineAt <= Date.now()) this.expire(w);
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
