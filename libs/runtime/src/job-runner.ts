import { Inject, Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { BATON_CONFIG } from './config.module';
import { RepeatLimitedLogger } from './logging';

export interface Job {
  readonly name: string;
  /** Runs one pass; returns true when it filled a batch and should run again at once. */
  run(): Promise<boolean>;
}

/**
 * Runs each job on its own interval, never two passes of one job at once in
 * this process (replicas are kept apart by SKIP LOCKED in the statements).
 * A job that filled its batch runs again without waiting for the interval.
 *
 * A pass is awaited for a bounded time only: its database calls are bounded
 * already (connect and query timeouts), so a pass still pending past that
 * waits on something that may never answer. The runner stops waiting for it
 * and later ticks go on; the abandoned pass may still finish, overlapping a
 * new one, which is no worse than two replicas.
 */
@Injectable()
export class JobRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger(JobRunner.name);
  /** An outage fails every pass of every job: one line per job and error every few seconds, not per tick. */
  private readonly failures = new RepeatLimitedLogger(this.logger);
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private stopped = false;
  /**
   * One pass is one statement or one short transaction: getting a connection,
   * then a statement and the COMMIT, each within the query timeout.
   */
  readonly passTimeoutMs: number;

  constructor(@Inject(BATON_CONFIG) config: BatonConfig) {
    this.passTimeoutMs = config.dbConnectTimeoutMs + 2 * config.dbQueryTimeoutMs;
  }

  /**
   * Returns a trigger: a pass now, or right after the one in progress (a
   * precise timer's due time has come; a tick that finds the job busy is
   * simply skipped).
   */
  schedule(job: Job, intervalMs: number): () => void {
    let busy = false;
    let again = false;
    let failedPasses = 0;
    const tick = () => {
      if (busy || this.stopped) return;
      busy = true;
      const pass = this.drain(job)
        .then((ok) => {
          if (ok && failedPasses > 0) this.logger.log(`${job.name} recovered after ${failedPasses} failed passes`);
          failedPasses = ok ? 0 : failedPasses + 1;
        })
        .finally(() => {
          busy = false;
          this.running.delete(pass);
          if (again) trigger();
        });
      this.running.add(pass);
    };
    const trigger = () => {
      again = busy;
      tick();
    };
    const timer = setInterval(tick, intervalMs);
    timer.unref();
    this.timers.push(timer);
    tick();
    return trigger;
  }

  /** Passes while each fills its batch (at most 100 in a row); false when one failed. */
  private async drain(job: Job): Promise<boolean> {
    try {
      for (let pass = 0; pass < 100 && !this.stopped; pass++) {
        if (!(await this.bounded(job))) break;
      }
      return true;
    } catch (err) {
      if (!this.stopped) this.failures.error(`${job.name} failed: ${(err as Error).message}`);
      return false;
    }
  }

  /** One pass, or a rejection once it has taken longer than passTimeoutMs (the pass itself is not stopped). */
  private async bounded(job: Job): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const overdue = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.passTimeoutMs} ms; later passes go on without it`)),
        this.passTimeoutMs,
      );
    });
    try {
      // race() also handles a late rejection of the abandoned pass.
      return await Promise.race([job.run(), overdue]);
    } finally {
      clearTimeout(timer);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled([...this.running]);
  }
}
