import { Injectable, Logger } from '@nestjs/common';
import type { BeforeApplicationShutdown } from '@nestjs/common';

export interface Job {
  readonly name: string;
  /** Runs one pass; returns true when it filled a batch and should run again at once. */
  run(): Promise<boolean>;
}

/**
 * Runs each job on its own interval, never two passes of one job at once in
 * this process (replicas are kept apart by SKIP LOCKED in the statements).
 * A job that filled its batch runs again without waiting for the interval.
 */
@Injectable()
export class JobRunner implements BeforeApplicationShutdown {
  private readonly logger = new Logger(JobRunner.name);
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly running = new Set<Promise<void>>();
  private stopped = false;

  schedule(job: Job, intervalMs: number): void {
    let busy = false;
    const tick = () => {
      if (busy || this.stopped) return;
      busy = true;
      const pass = this.drain(job).finally(() => {
        busy = false;
        this.running.delete(pass);
      });
      this.running.add(pass);
    };
    const timer = setInterval(tick, intervalMs);
    timer.unref();
    this.timers.push(timer);
    tick();
  }

  private async drain(job: Job): Promise<void> {
    try {
      for (let pass = 0; pass < 100 && !this.stopped; pass++) {
        if (!(await job.run())) return;
      }
    } catch (err) {
      if (!this.stopped) this.logger.error(`${job.name} failed: ${(err as Error).message}`);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled([...this.running]);
  }
}
