import { BatonError, ErrorCode, ErrorReason } from '@baton/contracts';
import { ALREADY_APPLIED, MUTATION_BACKOFF, RetryStopped, backoffDelay, isTransient, retryTransient } from './retry';

const unavailable = () => new BatonError(ErrorCode.UNAVAILABLE, 'database unavailable');

/** A clock the test moves: every pause advances it instead of waiting. */
function fakeTime(start = 1_000_000) {
  let now = start;
  const pauses: number[] = [];
  return {
    now: () => now,
    advance: (ms: number) => (now += ms),
    pauses,
    pause: async (ms: number) => {
      pauses.push(ms);
      now += ms;
    },
  };
}

describe('backoffDelay', () => {
  test('grows exponentially from the initial wait and stays under the cap', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 10, 50].map((n) => backoffDelay(n, MUTATION_BACKOFF, () => 1));
    expect(ceilings).toEqual([100, 200, 400, 800, 1_600, 2_000, 2_000, 2_000]);
  });

  test('jitter keeps every wait between half the ceiling and the ceiling', () => {
    for (let n = 1; n < 12; n++) {
      const ceiling = backoffDelay(n, MUTATION_BACKOFF, () => 1);
      expect(backoffDelay(n, MUTATION_BACKOFF, () => 0)).toBe(ceiling / 2);
      const wait = backoffDelay(n, MUTATION_BACKOFF);
      expect(wait).toBeGreaterThanOrEqual(ceiling / 2);
      expect(wait).toBeLessThanOrEqual(ceiling);
    }
  });
});

describe('isTransient', () => {
  test('UNAVAILABLE and DEADLINE_EXCEEDED are transient; definitive answers are not', () => {
    expect(isTransient(unavailable())).toBe(true);
    expect(isTransient(new BatonError(ErrorCode.DEADLINE_EXCEEDED, 'slow'))).toBe(true);
    expect(isTransient(BatonError.precondition('lost', ErrorReason.LEASE_LOST))).toBe(false);
    expect(isTransient(new BatonError(ErrorCode.INTERNAL, 'bug'))).toBe(false);
    expect(isTransient(new Error('plain'))).toBe(false);
  });
});

describe('retryTransient', () => {
  test('retries transient errors until the call answers', async () => {
    const time = fakeTime();
    let tries = 0;
    const result = await retryTransient(
      async () => {
        if (++tries < 8) throw unavailable();
        return 'done';
      },
      { giveUpAt: () => time.now() + 60_000, now: time.now, pause: time.pause },
    );
    expect(result).toBe('done');
    expect(tries).toBe(8);
    expect(time.pauses).toHaveLength(7);
  });

  test('keeps going far past the old five tries while the lease may hold, then stops at the give-up time', async () => {
    const time = fakeTime();
    const giveUpAt = time.now() + 60_000;
    let tries = 0;
    const outcome = await retryTransient(
      async () => {
        tries++;
        throw unavailable();
      },
      { giveUpAt: () => giveUpAt, now: time.now, pause: time.pause },
    ).catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(RetryStopped);
    expect((outcome as RetryStopped).why).toBe('expired');
    expect((outcome as RetryStopped).lastError).toBeInstanceOf(BatonError);
    expect(tries).toBeGreaterThan(25);
    // The last try is made at the give-up time, not after it.
    expect(time.now()).toBe(giveUpAt);
  });

  test('a give-up time that moves (the server answered elsewhere) extends the retries', async () => {
    const time = fakeTime();
    const start = time.now();
    let giveUpAt = start + 1_000;
    let tries = 0;
    const result = await retryTransient(
      async () => {
        tries++;
        giveUpAt = time.now() + 1_000; // heartbeats keep getting through
        if (tries < 20) throw unavailable();
        return 'late';
      },
      { giveUpAt: () => giveUpAt, now: time.now, pause: time.pause },
    );
    expect(result).toBe('late');
    expect(time.now() - start).toBeGreaterThan(1_000);
  });

  test('each try gets the time left, within its bounds', async () => {
    const time = fakeTime();
    const timeouts: number[] = [];
    const soon = time.now() + 500;
    await retryTransient(
      async (timeoutMs) => {
        timeouts.push(timeoutMs);
        throw unavailable();
      },
      { giveUpAt: () => soon, now: time.now, pause: time.pause },
    ).catch(() => undefined);
    expect(timeouts[0]).toBe(1_000);
    const roomy: number[] = [];
    await retryTransient(
      async (timeoutMs) => {
        roomy.push(timeoutMs);
        return 1;
      },
      { giveUpAt: () => time.now() + 90_000, now: time.now, pause: time.pause },
    );
    expect(roomy).toEqual([30_000]);
  });

  test('a definitive error ends the retries at once and is thrown as is', async () => {
    const time = fakeTime();
    const lost = BatonError.precondition('lease lost', ErrorReason.LEASE_LOST);
    let tries = 0;
    await expect(
      retryTransient(
        async () => {
          tries++;
          throw tries === 1 ? unavailable() : lost;
        },
        { giveUpAt: () => time.now() + 60_000, now: time.now, pause: time.pause },
      ),
    ).rejects.toBe(lost);
    expect(tries).toBe(2);
  });

  test('an error proving an earlier try applied counts as success on a repeat only', async () => {
    const time = fakeTime();
    const terminal = BatonError.precondition('already COMPLETED', ErrorReason.RUN_TERMINAL);
    const proves = (err: unknown) => err instanceof BatonError && err.reason === ErrorReason.RUN_TERMINAL;
    let tries = 0;
    const repeated = await retryTransient(
      async () => {
        tries++;
        throw tries === 1 ? new BatonError(ErrorCode.DEADLINE_EXCEEDED, 'reply lost') : terminal;
      },
      { giveUpAt: () => time.now() + 60_000, repeatSucceeded: proves, now: time.now, pause: time.pause },
    );
    expect(repeated).toBe(ALREADY_APPLIED);
    // On a first try the same answer proves nothing: the run was finished by someone else.
    await expect(
      retryTransient(
        async () => {
          throw terminal;
        },
        { giveUpAt: () => time.now() + 60_000, repeatSucceeded: proves, now: time.now, pause: time.pause },
      ),
    ).rejects.toBe(terminal);
  });

  test('an abort stops the retries, even in the middle of a wait', async () => {
    const controller = new AbortController();
    let tries = 0;
    const pending = retryTransient(
      async () => {
        tries++;
        throw unavailable();
      },
      {
        giveUpAt: () => Date.now() + 60_000,
        signal: controller.signal,
        backoff: { initialMs: 60_000, factor: 1, maxMs: 60_000 },
      },
    );
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('cancelled'));
    const outcome = await pending.catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(RetryStopped);
    expect((outcome as RetryStopped).why).toBe('aborted');
    expect(tries).toBe(1);
  });
});
