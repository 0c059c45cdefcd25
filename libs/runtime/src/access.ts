import { SetMetadata } from '@nestjs/common';
import type { Role } from '@baton/contracts';

/*
 * Every HTTP route and gRPC method declares who may call it; the frontend's
 * guard reads the declaration and checks the caller's key once, at the edge.
 * A handler that declares nothing is refused (fail closed).
 */

export const ACCESS_METADATA = 'baton:access';

/**
 * The namespaces a call acts in, read from the raw request before any parsing
 * (HTTP: the Express request; gRPC: the decoded message). Values that are not
 * strings name no namespace: the handler's own validation refuses them.
 */
export type NamespacesOf = (input: unknown) => unknown[];

export interface AccessRule {
  /** The role the call needs; null: any valid key. */
  role: Role | null;
  namespaces: NamespacesOf;
}

export type AccessDeclaration = AccessRule | 'public';

/** The call needs a key with `role` (null: any key) in every namespace `namespaces` reads from the request. */
export const Access = (role: Role | null, namespaces: NamespacesOf) =>
  SetMetadata<string, AccessDeclaration>(ACCESS_METADATA, { role, namespaces });

/** Anyone may call it: liveness, readiness and metrics probes. */
export const Public = () => SetMetadata<string, AccessDeclaration>(ACCESS_METADATA, 'public');
