import { BatonError, ErrorCode, ErrorReason } from '@baton/contracts';
import type { Task } from '@baton/proto';
import { WorkflowContext } from './context';
import { RunAbandonedError, StepFailedError } from './errors';
import { LeaseClock } from './lease';
import type { Transport } from './transport';

const task: Task = {
  runId: 'run-1',
  namespace: 'default',
  queue: 'q',
  workflowType: 'wf',
  attempt: 1,
  leaseEpoch: 1,
  leaseToken: '9e8d7c6b-5a49-4382-9170-a1b2c3d4e5f6',
};

/** A context whose server answers each mutation from `answer` (an Error is thrown). */
function contextAnswering(answer: (method: string, tries: number) => unknown) {
  const methods: string[] = [];
  const requests: Array<Record<string, unknown>> = [];
  const transport: Pick<Transport, 'call'> = {
    call: async <T>(_service: string, method: string, request: unknown) => {
      methods.push(method);
      requests.push(request as Record<string, unknown>);
      const reply = answer(method, methods.filter((m) => m === method).length);
      if (reply instanceof Error) throw reply;
      return reply as T;
    },
  };
  const controller = new AbortController();
  const ctx: WorkflowContext = new WorkflowContext(
    task,
    {
      transport,
      lease: { namespace: 'default', runId: 'run-1', workerId: 'w', leaseEpoch: 1, leaseToken: task.leaseToken! },
      clock: new LeaseClock(),
      abandon: (err) => {
        ctx.stop(err);
        controller.abort(err);
      },
    },
    controller.signal,
  );
  return { ctx, methods, requests, signal: controller.signal };
}

describe('WorkflowContext and infrastructure errors', () => {
  test('a lost lease on CompleteStep stops the execution; the error is not a step failure', async () => {
    const { ctx, methods, signal } = contextAnswering(() =>
      BatonError.precondition('lease moved on', ErrorReason.LEASE_LOST),
    );
    // Step a's record goes out before step b may begin; the lease is found lost then.
    await expect(ctx.step('a', () => 1)).resolves.toBe(1);
    let ranB = false;
    const err = await ctx
      .step('b', () => {
        ranB = true;
        return 2;
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunAbandonedError);
    expect(err).not.toBeInstanceOf(StepFailedError);
    expect(ranB).toBe(false);
    expect(ctx.suspended).toBe(err);
    expect(signal.aborted).toBe(true);
    // The handler goes on regardless: nothing more reaches the server.
    await expect(ctx.step('c', () => 3)).rejects.toBe(err);
    expect(methods).toEqual(['CompleteStep']);
  });

  test('an outage while recording a step is retried, not handed to the workflow', async () => {
    const { ctx, methods } = contextAnswering((_m, tries) =>
      tries < 4 ? new BatonError(ErrorCode.UNAVAILABLE, 'database unavailable') : {},
    );
    await expect(ctx.step('a', () => 'value')).resolves.toBe('value');
    await expect(ctx.step('b', () => 'next')).resolves.toBe('next');
    expect(methods).toEqual(['CompleteStep', 'CompleteStep', 'CompleteStep', 'CompleteStep']);
    expect(ctx.suspended).toBeNull();
  });

  test("the last step's record waits for the workflow's completion, which carries it", async () => {
    const { ctx, methods } = contextAnswering(() => ({}));
    await expect(ctx.step('a', () => ({ total: 3 }))).resolves.toEqual({ total: 3 });
    const unsent = await ctx.takeUnsentStep();
    expect(unsent).toMatchObject({ stepId: 'a', seq: 0 });
    expect(JSON.parse(Buffer.from(unsent!.output!.data!).toString())).toEqual({ total: 3 });
    // Taken: the next turn of the event loop sends nothing on its own.
    await new Promise((resolve) => setImmediate(resolve));
    expect(methods).toEqual([]);
  });

  test('a sleep carries the step completed just before it: one call', async () => {
    const { ctx, methods, requests } = contextAnswering(() => ({ suspended: true, wakeUpAtMs: Date.now() + 60_000 }));
    await ctx.step('t0', () => 7);
    await expect(ctx.sleep('nap', '1m')).rejects.toThrow(/suspended/);
    expect(methods).toEqual(['Sleep']);
    expect(requests[0]).toMatchObject({ stepId: 'nap', seq: 1, lastStep: { stepId: 't0', seq: 0 } });
  });

  test('a sleep the server refuses leaves the step before it to be recorded', async () => {
    const { ctx, methods } = contextAnswering(() => BatonError.invalid('durationMs', 'durationMs is too long'));
    await ctx.step('t0', () => 7);
    await expect(ctx.sleep('nap', '1m')).rejects.toBeInstanceOf(BatonError);
    expect(methods).toEqual(['Sleep']);
    expect(await ctx.takeUnsentStep()).toMatchObject({ stepId: 't0', seq: 0 });
  });

  test('a step whose output the server might refuse is recorded at once, so the refusal fails that step', async () => {
    const { ctx, methods } = contextAnswering((method) =>
      method === 'FailStep' ? { willRetry: false } : new BatonError(ErrorCode.PAYLOAD_TOO_LARGE, 'too large'),
    );
    const deep = JSON.parse('['.repeat(600) + ']'.repeat(600)) as unknown;
    const err = await ctx.step('a', () => deep).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect(methods).toEqual(['CompleteStep', 'FailStep']);
  });

  test('a user error still goes through FailStep and surfaces as a step failure', async () => {
    const { ctx, methods } = contextAnswering(() => ({ willRetry: false }));
    const err = await ctx
      .step('a', () => {
        throw new Error('card declined');
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as StepFailedError).message).toBe('card declined');
    expect(methods).toEqual(['FailStep']);
    expect(ctx.suspended).toBeNull();
  });

  test("a final FailStep whose reply was lost: the repeat's refusal proves it, the workflow sees the step's own error", async () => {
    const { ctx, methods } = contextAnswering((_m, tries) =>
      tries === 1
        ? new BatonError(ErrorCode.UNAVAILABLE, 'Connection dropped')
        : BatonError.precondition('step "a" is already failed', ErrorReason.STEP_ALREADY_FAILED),
    );
    const err = await ctx
      .step('a', () => {
        throw new Error('card declined');
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StepFailedError);
    expect((err as StepFailedError).message).toBe('card declined');
    expect(methods).toEqual(['FailStep', 'FailStep']);
  });

  test('a Sleep whose reply was lost finds the run parked: given up here, nothing failed', async () => {
    const { ctx } = contextAnswering((_m, tries) =>
      tries === 1
        ? new BatonError(ErrorCode.DEADLINE_EXCEEDED, 'reply lost')
        : BatonError.precondition('run is SLEEPING', ErrorReason.LEASE_LOST),
    );
    await expect(ctx.sleep('nap', '1h')).rejects.toBeInstanceOf(RunAbandonedError);
    expect(ctx.suspended).toBeInstanceOf(RunAbandonedError);
  });

  test("a step's retry policy goes out with DESIGN §13 names translated, never dropped", async () => {
    const { ctx, requests } = contextAnswering(() => ({ willRetry: true, retryAtMs: Date.now() }));
    await ctx
      .step(
        'a',
        () => {
          throw new Error('flaky');
        },
        { retry: { maxAttempts: 4, initialInterval: '2s', maxInterval: 10_000 } },
      )
      .catch(() => undefined);
    expect(requests[0]!.retry).toEqual({ maxAttempts: 4, initialIntervalMs: 2_000, maxIntervalMs: 10_000 });
  });
});
