import { ALL_NAMESPACES, ROLES } from '@baton/contracts';
import type { Role } from '@baton/contracts';

/** Who is calling: the key the call was authenticated with. */
export interface Principal {
  keyId: string;
  name: string;
  roles: readonly Role[];
  namespaces: readonly string[];
}

/** With authentication off (the all-in-one on loopback), every caller may do everything. */
export const OPEN_PRINCIPAL: Principal = Object.freeze({
  keyId: 'anonymous',
  name: 'authentication off',
  roles: ROLES,
  namespaces: [ALL_NAMESPACES],
});

/** The bootstrap key from BATON_ADMIN_KEY: every role in every namespace. */
export const BOOTSTRAP_PRINCIPAL: Principal = Object.freeze({
  keyId: 'bootstrap',
  name: 'BATON_ADMIN_KEY',
  roles: ROLES,
  namespaces: [ALL_NAMESPACES],
});

// Keyed by the HTTP request or the gRPC call's metadata: whatever the handler receives.
const principals = new WeakMap<object, Principal>();

export function attachPrincipal(carrier: object, principal: Principal): void {
  principals.set(carrier, principal);
}

/** The caller of the request whose HTTP request object or gRPC metadata is `carrier` (set by the AuthGuard). */
export function principalOf(carrier: object): Principal {
  const principal = principals.get(carrier);
  // The guard runs before every handler: a handler without one is a wiring bug, refused rather than trusted.
  if (!principal) throw new Error('no principal on this request: is the AuthGuard installed?');
  return principal;
}
