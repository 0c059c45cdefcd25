import { BatonError, SDK_DEFAULTS, uuidv7 } from '@baton/contracts';
import { RetryStopped, retryTransient } from './retry';
import { encodePayload } from './payload';
import { sendChecked } from './schedules';
import type { CallOptions, Transport } from './transport';

/**
 * Which run a signal goes to: its id, or `{ externalId }` for the live run
 * holding that idempotency key (see StartOptions.externalId).
 */
export type SignalTarget = string | { externalId: string };

/** Options of `client.signal`. */
export interface SignalOptions {
  /**
   * This send's id within the run (at most 200 bytes): a send with an id the
   * run already stored stores nothing and succeeds. Default: a new id per
   * `client.signal` call, kept across its own retries; pass your own to make
   * your retries of the call (or sends from elsewhere) count once.
   */
  requestId?: string;
}

/** A signal the server stored. */
export interface SignalSent {
  /** The run it went to (the one holding the external id, when sent by one). */
  runId: string;
}

/**
 * WorkflowService.Signal for `Client.signal`. A send whose reply is lost (the
 * server or the network away for a moment) is sent again with the same
 * request id, for up to the SDK's call timeout: the run gets it once.
 */
export async function sendSignal(
  transport: Pick<Transport, 'call'>,
  namespace: string,
  target: SignalTarget,
  name: string,
  payload: unknown,
  signalOptions: SignalOptions = {},
  options?: CallOptions,
): Promise<SignalSent> {
  let run: { runId: string } | { externalId: string };
  if (typeof target === 'string') run = { runId: target };
  else if (typeof target === 'object' && target !== null && typeof target.externalId === 'string') {
    run = { externalId: target.externalId };
  } else {
    throw BatonError.invalid('run', 'the run to signal is its id (a string) or { externalId: string }');
  }
  const requestId = signalOptions.requestId ?? uuidv7();
  const request = { namespace, ...run, name, payload: encodePayload(payload), requestId };
  const giveUpAt = Date.now() + SDK_DEFAULTS.callTimeoutMs;
  try {
    const res = await retryTransient(
      (timeoutMs) => sendChecked(transport, 'workflow', 'Signal', request, { ...options, timeoutMs }),
      { giveUpAt: () => giveUpAt },
    );
    // retryTransient gives ALREADY_APPLIED only with repeatSucceeded, which is not passed here.
    return { runId: typeof res === 'object' ? (res.runId ?? '') : '' };
  } catch (err) {
    throw err instanceof RetryStopped ? err.lastError : err;
  }
}
