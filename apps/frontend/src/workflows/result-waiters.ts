import { Injectable } from '@nestjs/common';
import type { OnApplicationShutdown } from '@nestjs/common';
import type { RunView } from '@baton/contracts';

export interface ResultSubscription {
  /**
   * Resolves when the run may have finished, or after `ms`: with the run as
   * it finished when the finish came with it (a completion in this process),
   * else undefined (read it).
   */
  next(ms: number): Promise<RunView | undefined>;
  close(): void;
}

/** WaitResult long polls, woken by "run finished" events for their run id. */
@Injectable()
export class ResultWaiters implements OnApplicationShutdown {
  private readonly waiting = new Map<string, Set<(finished?: RunView) => void>>();

  /** Subscribe before reading the run, so a finish between read and wait is not missed. */
  subscribe(runId: string): ResultSubscription {
    let pending = false;
    let heard: RunView | undefined;
    let wake: (() => void) | undefined;
    const listener = (finished?: RunView) => {
      pending = true;
      heard = finished ?? heard;
      wake?.();
    };
    const set = this.waiting.get(runId) ?? new Set();
    set.add(listener);
    this.waiting.set(runId, set);
    return {
      next: (ms) =>
        new Promise<RunView | undefined>((resolve) => {
          const take = () => {
            const finished = heard;
            pending = false;
            heard = undefined;
            resolve(finished);
          };
          if (pending) return take();
          const timer = setTimeout(done, ms);
          function done() {
            clearTimeout(timer);
            wake = undefined;
            take();
          }
          wake = done;
        }),
      close: () => {
        set.delete(listener);
        if (set.size === 0) this.waiting.delete(runId);
      },
    };
  }

  /** The run may have finished; `finished` is the run as it finished, when the caller has it whole. */
  notify(runId: string, finished?: RunView): void {
    for (const listener of this.waiting.get(runId) ?? []) listener(finished);
  }

  onApplicationShutdown(): void {
    for (const set of this.waiting.values()) for (const listener of set) listener();
  }
}
