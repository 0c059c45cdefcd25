import type { TimeSkip } from '@baton/persistence';
import { TimeSkipper } from './time-skipper';
import type { SkipStore } from './time-skipper';

const HOUR_MS = 60 * 60 * 1000;

/** A store whose "next due time" answers are scripted; records every call and how many overlapped. */
function fakeStore(answers: Array<TimeSkip | null | Error>) {
  const calls: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const enter = async <T>(name: string, answer: () => T): Promise<T> => {
    calls.push(name);
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    try {
      await new Promise((resolve) => setImmediate(resolve));
      return answer();
    } finally {
      inFlight--;
    }
  };
  const store: SkipStore = {
    skip: (ms) => enter(`skip ${ms}`, () => ({ skippedMs: ms, queues: [] })),
    skipToNextDue: () =>
      enter('next', () => {
        const answer = answers.length > 0 ? answers.shift()! : null;
        if (answer instanceof Error) throw answer;
        return answer;
      }),
  };
  return { store, calls, maxInFlight: () => maxInFlight };
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  expect(check()).toBe(true);
};

describe('TimeSkipper', () => {
  test('skip moves the virtual clock by the duration and nudges the timers once', async () => {
    const { store, calls } = fakeStore([]);
    const nudged: TimeSkip[] = [];
    const skipper = new TimeSkipper(store, (skip) => nudged.push(skip), 1);
    const before = skipper.now().getTime();

    await skipper.skip('24h');

    expect(calls).toEqual([`skip ${24 * HOUR_MS}`]);
    expect(nudged).toEqual([{ skippedMs: 24 * HOUR_MS, queues: [] }]);
    expect(skipper.skippedMs).toBe(24 * HOUR_MS);
    expect(skipper.now().getTime() - before).toBeGreaterThanOrEqual(24 * HOUR_MS);
  });

  test('a zero skip does nothing; a negative, malformed or absurd one is refused before reaching the store', async () => {
    const { store, calls } = fakeStore([]);
    const skipper = new TimeSkipper(store, () => undefined, 1);
    await skipper.skip(0);
    await expect(skipper.skip(-5)).rejects.toThrow(/duration must not be negative/);
    await expect(skipper.skip('soon')).rejects.toThrow(/not a duration/);
    await expect(skipper.skip('40000d')).rejects.toThrow(/duration must be at most/);
    expect(calls).toEqual([]);
    expect(skipper.skippedMs).toBe(0);
  });

  test('while a result is awaited, idle periods are skipped; once it settles the loop stops', async () => {
    const queues = [{ namespace: 'default', queue: 'q' }];
    const { store, calls } = fakeStore([null, { skippedMs: 5_000, queues }, null]);
    const nudged: TimeSkip[] = [];
    const skipper = new TimeSkipper(store, (skip) => nudged.push(skip), 1);
    const result = deferred<string>();

    const waiting = skipper.during(result.promise);
    await until(() => nudged.length === 1);
    expect(nudged[0]).toEqual({ skippedMs: 5_000, queues });
    result.resolve('done');
    await expect(waiting).resolves.toBe('done');

    await skipper.close();
    const looked = calls.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(calls.length).toBe(looked);
    expect(skipper.skippedMs).toBe(5_000);
  });

  test('concurrent waits share one loop, and skips never overlap', async () => {
    const skip = { skippedMs: 10, queues: [] };
    const { store, maxInFlight } = fakeStore(Array.from({ length: 20 }, () => skip));
    const skipper = new TimeSkipper(store, () => undefined, 1);
    const a = deferred<number>();
    const b = deferred<number>();

    const waits = [skipper.during(a.promise), skipper.during(b.promise), skipper.skip(7), skipper.skip(3)];
    await until(() => skipper.skippedMs >= 100);
    a.resolve(1);
    b.resolve(2);

    await expect(Promise.all(waits)).resolves.toEqual([1, 2, undefined, undefined]);
    expect(maxInFlight()).toBe(1);
    await skipper.close();
  });

  test('a failed skip fails the wait rather than leaving time standing still', async () => {
    const { store } = fakeStore([new Error('database gone')]);
    const skipper = new TimeSkipper(store, () => undefined, 1);
    const never = new Promise<string>(() => undefined);
    await expect(skipper.during(never)).rejects.toThrow('database gone');
    await skipper.close();
  });

  test('after close no skip reaches the store', async () => {
    const { store, calls } = fakeStore([]);
    const skipper = new TimeSkipper(store, () => undefined, 1);
    await skipper.close();
    await expect(skipper.skip('1h')).rejects.toThrow(/stopped/);
    expect(calls).toEqual([]);
  });
});
