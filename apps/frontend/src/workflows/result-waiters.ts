import { Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';

export interface ResultSubscription {
  /** Resolves when the run may have finished, or after `ms`. */
  next(ms: number): Promise<void>;
  close(): void;
}

/** WaitResult long polls, woken by "run finished" events for their run id. */
@Injectable()
export class ResultWaiters implements OnApplicationShutdown {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Subscribe before reading the run, so a finish between read and wait is not missed. */
  subscribe(runId: string): ResultSubscription {
    let pending = false;
    let wake: (() => void) | undefined;
    const listener = () => {
      pending = true;
      wake?.();
    };
    const set = this.waiting.get(runId) ?? new Set();
    set.add(listener);
    this.waiting.set(runId, set);
    return {
      next: (ms) =>
        new Promise<void>((resolve) => {
          if (pending) {
            pending = false;
            return resolve();
          }
          const timer = setTimeout(done, ms);
          function done() {
            clearTimeout(timer);
            wake = undefined;
            pending = false;
            resolve();
          }
          wake = done;
        }),
      close: () => {
        set.delete(listener);
        if (set.size === 0) this.waiting.delete(runId);
      },
    };
  }

  notify(runId: string): void {
    for (const listener of this.waiting.get(runId) ?? []) listener();
  }

  onApplicationShutdown(): void {
    for (const set of this.waiting.values()) for (const listener of set) listener();
  }
}
