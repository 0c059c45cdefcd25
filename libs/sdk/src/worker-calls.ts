import { LIMITS, SDK_DEFAULTS } from '@baton/contracts';
import { WORKER_BATCH_CALLS, isBatchableWorkerMethod } from '@baton/proto';
import type { BatchableWorkerMethod, RequestOf, ResponseOf, ServiceName, UnaryMethod, WorkerCall } from '@baton/proto';
import { CallBatcher } from './call-batcher';
import type { CallOptions, Transport } from './transport';

interface BatchItem {
  method: BatchableWorkerMethod;
  request: NonNullable<WorkerCall[keyof WorkerCall]>;
  /** performance.now() when the call was made: a Sleep says how long it waited before it went out. */
  madeAt: number;
}

/**
 * The request as it goes out now. A Sleep carries how long it waited behind
 * the worker's other calls, so the server counts the sleep from when the run
 * asked for it (up to its duration: the server never wakes it before now).
 */
function outgoing({ method, request, madeAt }: BatchItem): BatchItem['request'] {
  if (method !== 'Sleep') return request;
  const durationMs = (request as { durationMs?: number }).durationMs ?? 0;
  return { ...request, waitedMs: Math.min(durationMs, Math.floor(performance.now() - madeAt)) };
}

/** Payload bytes a run mutation carries (its output, or the last step's). */
function payloadBytes(request: BatchItem['request']): number {
  const carried = request as { output?: { data?: Uint8Array }; lastStep?: { output?: { data?: Uint8Array } } };
  return (carried.output?.data?.length ?? 0) + (carried.lastStep?.output?.data?.length ?? 0);
}

/**
 * The worker's calls for its runs: the run mutations that its runs make
 * concurrently (BeginStep, CompleteStep, FailStep, Sleep, CompleteWorkflow,
 * FailWorkflow) go through a CallBatcher as one `Batch` call, each answered as
 * its lone call would be, so `mutate`'s retries and error handling see no
 * difference; every other call goes straight to the transport.
 */
export class WorkerCalls implements Pick<Transport, 'call'> {
  private readonly batcher: CallBatcher<BatchItem, unknown>;

  constructor(private readonly transport: Pick<Transport, 'call'>) {
    this.batcher = new CallBatcher<BatchItem, unknown>(
      {
        one: (item, options) => transport.call('worker', item.method, outgoing(item) as never, options),
        many: async (items, options) => {
          const calls = items.map((item): WorkerCall => ({ [WORKER_BATCH_CALLS[item.method]]: outgoing(item) }));
          const { outcomes = [] } = await transport.call('worker', 'Batch', { calls }, options);
          return items.map(({ method }, i) => {
            const outcome = outcomes[i];
            if (!outcome) return undefined;
            if (outcome.error) return { error: outcome.error };
            const reply = outcome[WORKER_BATCH_CALLS[method]];
            return reply === undefined ? undefined : { ok: reply };
          });
        },
        bytes: ({ request }) => payloadBytes(request),
      },
      { maxItems: LIMITS.workerBatchCalls, maxBytes: SDK_DEFAULTS.callBatchMaxBytes },
    );
  }

  call<S extends ServiceName, M extends UnaryMethod<S>>(
    service: S,
    method: M,
    request: RequestOf<S, M>,
    options?: CallOptions,
  ): Promise<ResponseOf<S, M>> {
    if (service === 'worker' && isBatchableWorkerMethod(method)) {
      const item = { method, request: request as BatchItem['request'], madeAt: performance.now() };
      return this.batcher.send(item, options) as Promise<ResponseOf<S, M>>;
    }
    return this.transport.call(service, method, request, options);
  }
}
