import { LIMITS, SDK_DEFAULTS } from '@baton/contracts';
import { WORKER_BATCH_CALLS, isBatchableWorkerMethod } from '@baton/proto';
import type { BatchableWorkerMethod, RequestOf, ResponseOf, ServiceName, UnaryMethod, WorkerCall } from '@baton/proto';
import { CallBatcher } from './call-batcher';
import type { CallOptions, Transport } from './transport';

interface BatchItem {
  method: BatchableWorkerMethod;
  request: NonNullable<WorkerCall[keyof WorkerCall]>;
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
        one: ({ method, request }, options) => transport.call('worker', method, request as never, options),
        many: async (items, options) => {
          const calls = items.map(({ method, request }): WorkerCall => ({ [WORKER_BATCH_CALLS[method]]: request }));
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
      return this.batcher.send({ method, request: request as BatchItem['request'] }, options) as Promise<
        ResponseOf<S, M>
      >;
    }
    return this.transport.call(service, method, request, options);
  }
}
