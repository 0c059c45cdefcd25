import { BatonError, ErrorCode, LIMITS, SDK_DEFAULTS } from '@baton/contracts';
import type { ErrorReason } from '@baton/contracts';
import type { CallError, StartOutcome, StartRequest, StartResponse } from '@baton/proto';
import type { Transport } from './transport';

interface Waiting {
  request: StartRequest;
  resolve(response: StartResponse): void;
  reject(err: unknown): void;
}

/** The error one item of a batch met, as the lone call would have thrown it. */
function fromCallError(error: CallError): BatonError {
  const code = (error.code || ErrorCode.INTERNAL) as ErrorCode;
  return new BatonError(code, error.message || 'start failed', {
    ...(error.field ? { field: error.field } : {}),
    ...(error.reason ? { reason: error.reason as ErrorReason } : {}),
  });
}

const inputBytes = (request: StartRequest) => request.input?.data?.length ?? 0;

/**
 * Group commit on the client's side, for starts: the starts made in one turn
 * of the event loop, or while this client's previous start call is in
 * flight, go together as one `StartMany`, where each succeeds or fails on its
 * own (a lone start goes as `Start`, at the end of the turn it was made in).
 * A burst of concurrent starts so costs a few calls instead of one each, on
 * the client, on the network and on the server.
 */
export class StartBatcher {
  private readonly waiting: Waiting[] = [];
  /** A drain is scheduled or sending. */
  private busy = false;
  /** The server predates StartMany (UNIMPLEMENTED): send each start on its own from then on. */
  private lonely = false;

  constructor(private readonly transport: Pick<Transport, 'call'>) {}

  start(request: StartRequest): Promise<StartResponse> {
    if (this.lonely) return this.transport.call('workflow', 'Start', request);
    return new Promise<StartResponse>((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /**
   * Sends what waits, one call at a time. Each send waits for the end of the
   * event loop's turn (setImmediate) first: callers that start again as soon
   * as their start returns (a loop, a pool) do so in microtasks of that turn,
   * and so join the next call instead of trailing it alone.
   */
  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        await this.send(this.nextBatch());
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.busy = false;
    }
  }

  /** The oldest waiting starts, up to LIMITS.startManyItems and (beyond the first) the byte budget. */
  private nextBatch(): Waiting[] {
    let bytes = 0;
    let count = 0;
    while (count < Math.min(LIMITS.startManyItems, this.waiting.length)) {
      const size = inputBytes(this.waiting[count]!.request);
      if (count > 0 && bytes + size > SDK_DEFAULTS.startBatchMaxBytes) break;
      bytes += size;
      count++;
    }
    return this.waiting.splice(0, Math.max(count, 1));
  }

  private async send(batch: Waiting[]): Promise<void> {
    if (batch.length === 1 || this.lonely) {
      await Promise.all(
        batch.map((w) => this.transport.call('workflow', 'Start', w.request).then(w.resolve, w.reject)),
      );
      return;
    }
    let outcomes: StartOutcome[];
    try {
      const response = await this.transport.call('workflow', 'StartMany', { starts: batch.map((w) => w.request) });
      outcomes = response.outcomes ?? [];
    } catch (err) {
      if (err instanceof BatonError && err.code === ErrorCode.UNIMPLEMENTED) {
        this.lonely = true;
        return this.send(batch);
      }
      // The call as a whole failed (the server was unreachable, the deadline passed): so did each start in it.
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const outcome = outcomes[i];
      if (outcome?.started) w.resolve(outcome.started);
      else if (outcome?.error) w.reject(fromCallError(outcome.error));
      else
        w.reject(
          new BatonError(
            ErrorCode.INTERNAL,
            `StartMany answered ${outcomes.length} outcomes for ${batch.length} starts`,
          ),
        );
    });
  }
}
