import { BatonError, ErrorCode, ErrorReason } from '@baton/contracts';
import type { WorkerBatchRequest } from '@baton/proto';
import type { CallOptions, Transport } from './transport';
import { WorkerCalls } from './worker-calls';

/** A server whose calls the test answers by hand. */
function heldTransport() {
  const calls: Array<{
    method: string;
    request: unknown;
    options?: CallOptions;
    answer(value: unknown): void;
    fail(err: Error): void;
  }> = [];
  const transport: Pick<Transport, 'call'> = {
    call: <T>(_service: string, method: string, request: unknown, options?: CallOptions) =>
      new Promise<T>((resolve, reject) => {
        calls.push({ method, request, options, answer: (value) => resolve(value as T), fail: reject });
      }),
  };
  return { transport, calls };
}

const lease = (runId: string) => ({
  namespace: 'default',
  runId,
  workerId: 'w',
  leaseEpoch: 1,
  leaseToken: '3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a',
});
const flush = async () => {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('WorkerCalls', () => {
  test('run mutations made together go as one Batch, each answered with its own outcome', async () => {
    const { transport, calls } = heldTransport();
    const worker = new WorkerCalls(transport);
    // The first goes at once, alone; those made while it is in flight wait for it and go together.
    const first = worker.call('worker', 'CompleteWorkflow', { lease: lease('z') });
    const step = worker.call('worker', 'CompleteStep', { lease: lease('a'), stepId: 's', seq: 0 });
    const done = worker.call('worker', 'CompleteWorkflow', { lease: lease('b') });
    const lost = worker.call('worker', 'Sleep', { lease: lease('c'), stepId: 'nap', seq: 1, durationMs: 5 });
    expect(calls.map((c) => c.method)).toEqual(['CompleteWorkflow']);
    calls.shift()!.answer({});
    await expect(first).resolves.toEqual({});
    await flush();
    expect(calls.map((c) => c.method)).toEqual(['Batch']);
    expect((calls[0]!.request as WorkerBatchRequest).calls).toEqual([
      { completeStep: { lease: lease('a'), stepId: 's', seq: 0 } },
      { completeWorkflow: { lease: lease('b') } },
      { sleep: { lease: lease('c'), stepId: 'nap', seq: 1, durationMs: 5, waitedMs: expect.any(Number) } },
    ]);
    calls[0]!.answer({
      outcomes: [
        { completeStep: { attempt: 1 } },
        { completeWorkflow: {} },
        { error: { code: ErrorCode.FAILED_PRECONDITION, message: 'lease lost', reason: ErrorReason.LEASE_LOST } },
      ],
    });
    await expect(step).resolves.toEqual({ attempt: 1 });
    await expect(done).resolves.toEqual({});
    await expect(lost).rejects.toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, reason: ErrorReason.LEASE_LOST });
  });

  test('a Sleep says how long it waited behind the calls in flight, up to its duration', async () => {
    // performance.now() under the test's control; the batcher's turns (setImmediate) stay real.
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const { transport, calls } = heldTransport();
      const worker = new WorkerCalls(transport);
      void worker.call('worker', 'Sleep', { lease: lease('a'), stepId: 'nap', seq: 1, durationMs: 2_000 });
      void worker.call('worker', 'Sleep', { lease: lease('b'), stepId: 'nap', seq: 1, durationMs: 2_000 });
      void worker.call('worker', 'Sleep', { lease: lease('c'), stepId: 'nap', seq: 1, durationMs: 100 });
      // The first went at once: it waited for nothing.
      expect(calls[0]!.request).toMatchObject({ durationMs: 2_000, waitedMs: 0 });
      jest.advanceTimersByTime(150);
      calls.shift()!.answer({ suspended: true });
      await flush();
      expect((calls[0]!.request as WorkerBatchRequest).calls).toEqual([
        { sleep: expect.objectContaining({ lease: lease('b'), durationMs: 2_000, waitedMs: 150 }) },
        { sleep: expect.objectContaining({ durationMs: 100, waitedMs: 100 }) },
      ]);
    } finally {
      jest.useRealTimers();
    }
  });

  test('a lone mutation goes as its own call, and other calls are never batched', async () => {
    const { transport, calls } = heldTransport();
    const worker = new WorkerCalls(transport);
    void worker.call('worker', 'CompleteWorkflow', { lease: lease('a') });
    void worker.call('worker', 'Heartbeat', { namespace: 'default', workerId: 'w', activeRunIds: [] });
    await flush();
    expect(calls.map((c) => c.method).sort()).toEqual(['CompleteWorkflow', 'Heartbeat']);
  });

  test("a Batch's deadline is its shortest item's, and an item whose signal aborts is let go alone", async () => {
    const { transport, calls } = heldTransport();
    const worker = new WorkerCalls(transport);
    const controller = new AbortController();
    void worker.call('worker', 'CompleteWorkflow', { lease: lease('z') });
    const first = worker.call('worker', 'CompleteWorkflow', { lease: lease('a') }, { timeoutMs: 5_000 });
    const aborted = worker.call(
      'worker',
      'CompleteWorkflow',
      { lease: lease('b') },
      { timeoutMs: 2_000, signal: controller.signal },
    );
    calls.shift()!.answer({});
    await flush();
    expect(calls[0]!.options?.timeoutMs).toBe(2_000);
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    calls[0]!.answer({ outcomes: [{ completeWorkflow: {} }, { completeWorkflow: {} }] });
    await expect(first).resolves.toEqual({});
  });

  test('a server without Batch gets each mutation on its own', async () => {
    const { transport, calls } = heldTransport();
    const worker = new WorkerCalls(transport);
    void worker.call('worker', 'CompleteWorkflow', { lease: lease('z') });
    const results = ['a', 'b'].map((id) => worker.call('worker', 'CompleteWorkflow', { lease: lease(id) }));
    calls.shift()!.answer({});
    await flush();
    calls[0]!.fail(new BatonError(ErrorCode.UNIMPLEMENTED, 'unknown method Batch'));
    await flush();
    expect(calls.slice(1).map((c) => c.method)).toEqual(['CompleteWorkflow', 'CompleteWorkflow']);
    calls[1]!.answer({});
    calls[2]!.answer({});
    await expect(Promise.all(results)).resolves.toEqual([{}, {}]);
  });
});
