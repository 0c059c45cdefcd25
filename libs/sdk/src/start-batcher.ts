import { LIMITS, SDK_DEFAULTS } from '@baton/contracts';
import type { StartRequest, StartResponse } from '@baton/proto';
import { CallBatcher } from './call-batcher';
import type { CallOptions, Transport } from './transport';

/**
 * A client's starts through a CallBatcher: concurrent starts go as one
 * `StartMany` (each with the outcome its lone `Start` would have had), a lone
 * start as `Start`.
 */
export class StartBatcher {
  private readonly batcher: CallBatcher<StartRequest, StartResponse>;

  constructor(transport: Pick<Transport, 'call'>) {
    this.batcher = new CallBatcher<StartRequest, StartResponse>(
      {
        one: (request, options) => transport.call('workflow', 'Start', request, options),
        many: async (starts, options) => {
          const { outcomes = [] } = await transport.call('workflow', 'StartMany', { starts }, options);
          return outcomes.map((o) => (o.started ? { ok: o.started } : o.error ? { error: o.error } : undefined));
        },
        bytes: (request) => request.input?.data?.length ?? 0,
      },
      { maxItems: LIMITS.startManyItems, maxBytes: SDK_DEFAULTS.callBatchMaxBytes },
    );
  }

  /** `options.traceparent` goes with the start when it travels alone; in a batch, its item's field carries it. */
  start(request: StartRequest, options?: CallOptions): Promise<StartResponse> {
    return this.batcher.send(request, options);
  }
}
