import type { NamespacesOf } from '@baton/runtime';

/*
 * Where each call names the namespaces it acts in, read from the raw request
 * for the AuthGuard (see Access). Shapes are untrusted here: whatever is not
 * where it should be names nothing, and the handler's validation refuses it.
 */

const member = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;

const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

export const InNamespace = {
  /** HTTP: the `:namespace` path parameter. */
  path: ((request) => [member(member(request, 'params'), 'namespace')]) as NamespacesOf,
  /** gRPC: the message's `namespace`. */
  field: ((message) => [member(message, 'namespace')]) as NamespacesOf,
  /** gRPC worker mutations: the lease's namespace. */
  lease: ((message) => [member(member(message, 'lease'), 'namespace')]) as NamespacesOf,
  /** StartMany: every start's namespace. */
  starts: ((message) => items(member(message, 'starts')).map((start) => member(start, 'namespace'))) as NamespacesOf,
  /** Worker Batch: every call's lease namespace, whichever mutation it is. */
  batch: ((message) =>
    items(member(message, 'calls')).flatMap((call) =>
      typeof call === 'object' && call !== null
        ? Object.values(call).map((mutation) => member(member(mutation, 'lease'), 'namespace'))
        : [],
    )) as NamespacesOf,
  /** Calls about no namespace (server facts, API keys: those check their own scope). */
  none: (() => []) as NamespacesOf,
};
