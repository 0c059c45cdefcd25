/**
 * Who may do what (invariant 13). An API key is scoped to namespaces and
 * roles; every RPC and route declares the role it needs, and the edge checks
 * the caller's key against it once, before any work.
 */
export const Role = {
  /** Start, read, cancel and delete runs; schedules. */
  CLIENT: 'client',
  /** The worker protocol: register, poll, step and run mutations, heartbeat. */
  WORKER: 'worker',
  /** API keys, workers (list, drain), queue statistics; and everything the other roles may. */
  ADMIN: 'admin',
} as const;
export type Role = (typeof Role)[keyof typeof Role];
export const ROLES: readonly Role[] = Object.freeze(Object.values(Role));

/** A key's namespaces entry meaning "every namespace". */
export const ALL_NAMESPACES = '*';

/** How a key authorizes: whether it grants `role` (admin grants every role). */
export function grantsRole(roles: readonly Role[], role: Role): boolean {
  return roles.includes(role) || roles.includes(Role.ADMIN);
}

/** Whether a key scoped to `namespaces` may act in `namespace`. */
export function coversNamespace(namespaces: readonly string[], namespace: string): boolean {
  return namespaces.includes(ALL_NAMESPACES) || namespaces.includes(namespace);
}

export const API_KEYS = Object.freeze({
  /** Every secret starts with this, so that a leaked one is easy to recognise (and to scan for). */
  secretPrefix: 'baton_',
  /** Random bytes in a secret (base64url after the prefix): unguessable, so a fast hash is enough to store it. */
  secretBytes: 32,
  /** Characters of the secret kept (and listed) to recognise a key. */
  shownPrefixChars: 12,
  /** A bootstrap key from the environment must be at least this long. */
  minBootstrapKeyChars: 32,
  /** Most namespaces one key may list. */
  maxNamespaces: 100,
});

/** Where the key travels: `Authorization: Bearer <secret>` over HTTP, the same metadata key over gRPC. */
export const AUTH_HEADER = 'authorization';
export const BEARER_SCHEME = 'Bearer';

/** gRPC metadata and HTTP header telling a rate-limited caller when to try again. */
export const RETRY_AFTER_METADATA = 'retry-after-ms';

/** An API key as every view shows it: never its secret, never its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  /** The secret's first characters, to recognise a key. */
  prefix: string;
  namespaces: string[];
  roles: Role[];
  createdAt: Date;
  revokedAt: Date | null;
}

/** Event, broadcast to every frontend: a key was revoked, drop whatever was cached about it. */
export interface ApiKeyRevokedEvent {
  keyId: string;
}
