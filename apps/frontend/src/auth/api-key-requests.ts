import { ALL_NAMESPACES, API_KEYS, BatonError, ROLES, checkName, describeValue } from '@baton/contracts';
import type { Role } from '@baton/contracts';
import type { NewApiKey } from './api-keys.service';

function list(value: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw BatonError.invalid(field, `${field} must be a non-empty list (got ${describeValue(value)})`);
  }
  if (value.length > max) throw BatonError.invalid(field, `${field} may hold at most ${max} entries`);
  return value;
}

function role(value: unknown, field: string): Role {
  if (typeof value !== 'string' || !ROLES.includes(value as Role)) {
    throw BatonError.invalid(field, `${field} must be one of ${ROLES.join(', ')} (got ${describeValue(value)})`);
  }
  return value as Role;
}

/** A new key's name, namespaces ("*": all) and roles, from either transport. */
export function parseNewApiKey(raw: { name?: unknown; namespaces?: unknown; roles?: unknown }): NewApiKey {
  // A repeated entry grants nothing more: kept once.
  return {
    name: checkName(raw.name, 'name'),
    namespaces: [
      ...new Set(
        list(raw.namespaces, 'namespaces', API_KEYS.maxNamespaces).map((ns, i) =>
          ns === ALL_NAMESPACES ? ns : checkName(ns, `namespaces[${i}]`),
        ),
      ),
    ],
    roles: [...new Set(list(raw.roles, 'roles', ROLES.length).map((r, i) => role(r, `roles[${i}]`)))],
  };
}
