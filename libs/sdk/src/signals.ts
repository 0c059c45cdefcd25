import { BatonError } from '@baton/contracts';
import { encodePayload } from './payload';
import { sendChecked } from './schedules';
import type { CallOptions, Transport } from './transport';

/**
 * Which run a signal goes to: its id, or `{ externalId }` for the live run
 * holding that idempotency key (see StartOptions.externalId).
 */
export type SignalTarget = string | { externalId: string };

/** A signal the server stored. */
export interface SignalSent {
  /** The run it went to (the one holding the external id, when sent by one). */
  runId: string;
}

/** WorkflowService.Signal for `Client.signal`. */
export async function sendSignal(
  transport: Pick<Transport, 'call'>,
  namespace: string,
  target: SignalTarget,
  name: string,
  payload: unknown,
  options?: CallOptions,
): Promise<SignalSent> {
  let run: { runId: string } | { externalId: string };
  if (typeof target === 'string') run = { runId: target };
  else if (typeof target === 'object' && target !== null && typeof target.externalId === 'string') {
    run = { externalId: target.externalId };
  } else {
    throw BatonError.invalid('run', 'the run to signal is its id (a string) or { externalId: string }');
  }
  const request = { namespace, ...run, name, payload: encodePayload(payload) };
  const res = await sendChecked(transport, 'workflow', 'Signal', request, options);
  return { runId: res.runId ?? '' };
}
