import { OPEN_PRINCIPAL, principalOf } from '../auth/principal';

/**
 * Who a run's history names for a call: the API key id the AuthGuard
 * attached to `carrier` (the HTTP request or the gRPC metadata); null with
 * authentication off, where every caller is the same anonymous one.
 */
export function actorOf(carrier: object): string | null {
  const principal = principalOf(carrier);
  return principal === OPEN_PRINCIPAL ? null : principal.keyId;
}
