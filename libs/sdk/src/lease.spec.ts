import { BatonError, ErrorCode, ErrorReason } from '@baton/contracts';
import { CancelledError, RunAbandonedError } from './errors';
import { LeaseClock, mutate, runFinished, stepAlreadyFailed } from './lease';
import type { RunLink } from './lease';
import { ALREADY_APPLIED } from './retry';
import type { Transport } from './transport';

type Answer = unknown | ((request: object) => unknown);

const TOKEN = '4f1e2d3c-b5a6-4978-8a1b-2c3d4e5f6a7b';

/** Answers calls from a script, in order (an Error is thrown): the server as a test wants it. */
function scriptedTransport(...answers: Answer[]) {
  const calls: Array<{ method: string; request: Record<string, unknown> }> = [];
  const transport: Pick<Transport, 'call'> = {
    call: async <T>(_service: string, method: string, request: unknown) => {
      calls.push({ method, request: request as Record<string, unknown> });
      const next = answers.length > 1 ? answers.shift() : answers[0];
      const answer = typeof next === 'function' ? (next as (r: unknown) => unknown)(request) : next;
      if (answer instanceof Error) throw answer;
      return answer as T;
    },
  };
  return { transport, calls };
}

function link(transport: Pick<Transport, 'call'>, clock = new LeaseClock()) {
  const abandoned: RunAbandonedError[] = [];
  const value: RunLink = {
    transport,
    lease: { namespace: 'default', runId: 'run-1', workerId: 'w-1', leaseEpoch: 3, leaseToken: TOKEN },
    clock,
    abandon: (err) => abandoned.push(err),
  };
  return { link: value, abandoned };
}

const unavailable = () => new BatonError(ErrorCode.UNAVAILABLE, 'database unavailable');
const signal = () => new AbortController().signal;

describe('mutate', () => {
  test('carries the lease and retries through a short outage', async () => {
    const { transport, calls } = scriptedTransport(unavailable(), unavailable(), { ok: true });
    const { link: l, abandoned } = link(transport);
    await expect(mutate(l, 'CompleteStep', { stepId: 's', seq: 0 }, { signal: signal() })).resolves.toEqual({
      ok: true,
    });
    expect(calls).toHaveLength(3);
    expect(calls[0]!.request).toMatchObject({
      lease: { runId: 'run-1', leaseEpoch: 3, leaseToken: TOKEN },
      stepId: 's',
    });
    expect(abandoned).toHaveLength(0);
  });

  test('a lost lease gives the run up instead of failing it', async () => {
    for (const reason of [ErrorReason.LEASE_LOST, ErrorReason.RUN_CANCELLED, ErrorReason.RUN_TERMINAL]) {
      const { transport } = scriptedTransport(BatonError.precondition('no longer yours', reason));
      const { link: l, abandoned } = link(transport);
      const err = await mutate(l, 'FailStep', {}, { signal: signal() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RunAbandonedError);
      expect((err as RunAbandonedError).cause).toBeInstanceOf(BatonError);
      expect(abandoned).toEqual([err]);
    }
  });

  test('a cancelled run is stopped as a cancel, not abandoned, when its worker says how', async () => {
    const { transport } = scriptedTransport(
      BatonError.precondition('workflow run was cancelled', ErrorReason.RUN_CANCELLED),
    );
    const { link: l, abandoned } = link(transport);
    let cancels = 0;
    l.cancelled = () => cancels++;
    const err = await mutate(l, 'CompleteStep', { stepId: 's', seq: 0 }, { signal: signal() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(cancels).toBe(1);
    expect(abandoned).toEqual([]);
  });

  test('no answer for longer than the lease may hold gives the run up', async () => {
    const clock = new LeaseClock();
    clock.configure(20, 20);
    const { transport, calls } = scriptedTransport(unavailable());
    const { link: l, abandoned } = link(transport, clock);
    const err = await mutate(l, 'CompleteWorkflow', {}, { signal: signal() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunAbandonedError);
    expect((err as RunAbandonedError).message).toMatch(/no answer from the server for 40 ms/);
    expect((err as RunAbandonedError).cause).toBeInstanceOf(BatonError);
    expect(abandoned).toHaveLength(1);
    expect(calls.length).toBeGreaterThan(1);
  });

  test('a heartbeat getting through keeps the retries going', async () => {
    const clock = new LeaseClock();
    clock.configure(20, 20);
    let tries = 0;
    const { transport } = scriptedTransport(() => {
      clock.touch(); // as the worker's heartbeats do meanwhile
      return ++tries < 5 ? unavailable() : { done: true };
    });
    const { link: l } = link(transport, clock);
    await expect(mutate(l, 'Sleep', {}, { signal: signal() })).resolves.toEqual({ done: true });
  });

  test('an abort throws its reason and abandons nothing', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled meanwhile');
    const { transport } = scriptedTransport(() => {
      controller.abort(reason);
      return unavailable();
    });
    const { link: l, abandoned } = link(transport);
    await expect(mutate(l, 'CompleteStep', {}, { signal: controller.signal })).rejects.toBe(reason);
    expect(abandoned).toHaveLength(0);
  });

  test('other definitive answers are thrown as they are', async () => {
    const bad = BatonError.invalid('output', 'too big');
    const { transport } = scriptedTransport(bad);
    const { link: l, abandoned } = link(transport);
    await expect(mutate(l, 'CompleteWorkflow', {}, { signal: signal() })).rejects.toBe(bad);
    expect(abandoned).toHaveLength(0);
  });

  test('a repeated CompleteWorkflow that finds the run finished is success', async () => {
    const { transport } = scriptedTransport(
      new BatonError(ErrorCode.DEADLINE_EXCEEDED, 'reply lost'),
      BatonError.precondition('already COMPLETED', ErrorReason.RUN_TERMINAL),
    );
    const { link: l, abandoned } = link(transport);
    await expect(mutate(l, 'CompleteWorkflow', {}, { signal: signal(), repeatSucceeded: runFinished })).resolves.toBe(
      ALREADY_APPLIED,
    );
    expect(abandoned).toHaveLength(0);
  });
});

describe('repeat proofs', () => {
  test('stepAlreadyFailed recognises only the refusal of a second final failure', () => {
    expect(
      stepAlreadyFailed(BatonError.precondition('step "s" is already failed', ErrorReason.STEP_ALREADY_FAILED)),
    ).toBe(true);
    expect(stepAlreadyFailed(BatonError.precondition('step "s" is already failed'))).toBe(false);
    expect(stepAlreadyFailed(BatonError.precondition('step "s" is already completed'))).toBe(false);
    expect(stepAlreadyFailed(BatonError.precondition('already failed', ErrorReason.LEASE_LOST))).toBe(false);
    expect(stepAlreadyFailed(unavailable())).toBe(false);
  });
});

describe('LeaseClock', () => {
  test('gives up lease duration + stale threshold after the last answer; defaults when the server says nothing', () => {
    let now = 10_000;
    const clock = new LeaseClock(() => now);
    expect(clock.giveUpAt).toBe(10_000 + 60_000);
    clock.configure(5_000, 2_000);
    expect(clock.giveUpAt).toBe(17_000);
    now = 50_000;
    clock.touch();
    expect(clock.giveUpAt).toBe(57_000);
    clock.configure(0, Number(undefined));
    expect(clock.holdMs).toBe(60_000);
  });
});
