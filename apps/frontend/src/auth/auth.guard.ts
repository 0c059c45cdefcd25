import { Injectable, Logger } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Metadata } from '@grpc/grpc-js';
import { AUTH_HEADER, BEARER_SCHEME, BatonError, ErrorCode, coversNamespace, grantsRole } from '@baton/contracts';
import { ACCESS_METADATA } from '@baton/runtime';
import type { AccessDeclaration, AccessRule } from '@baton/runtime';
import type { Request } from 'express';
import { ApiKeys } from './api-keys.service';
import { OPEN_PRINCIPAL, attachPrincipal } from './principal';
import type { Principal } from './principal';
import { RateLimiter } from './rate-limiter';

/** One API call as the guard sees it: what carries the credential and what the access rule reads. */
interface ApiCall {
  /** The object the handler receives (HTTP request, gRPC metadata): the principal is attached to it. */
  carrier: object;
  /** The key sent, read only when keys are required (a stray header does not matter otherwise). */
  credential: () => string | undefined;
  /** What the rule's namespace reader reads: the HTTP request, or the gRPC message. */
  input: unknown;
  describe: string;
}

/**
 * Invariant 13 at the edge, for every HTTP route and gRPC method: the key
 * (Authorization: Bearer over HTTP, the same metadata key over gRPC) must be
 * valid (else UNAUTHENTICATED), hold the declared role in every namespace the
 * call names (else PERMISSION_DENIED), and be within its rate (else
 * RESOURCE_EXHAUSTED). Messages between the apps on the bus are not API calls.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeys,
    private readonly limiter: RateLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const call = apiCall(context);
    if (!call) return true;
    const declared = this.reflector.getAllAndOverride<AccessDeclaration | undefined>(ACCESS_METADATA, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (declared === 'public') return true;
    if (!declared) {
      // Fail closed: a new handler that forgot its rule is refused, not opened.
      this.logger.error(`${call.describe} declares no access rule: refused`);
      throw new BatonError(ErrorCode.PERMISSION_DENIED, 'this operation is not open to any key');
    }
    if (!this.keys.required) {
      attachPrincipal(call.carrier, OPEN_PRINCIPAL);
      return true;
    }
    let principal: Principal | undefined;
    try {
      principal = await this.keys.authenticate(call.credential());
      authorize(principal, declared, call.input);
      this.limiter.take(principal.keyId);
    } catch (err) {
      this.logger.debug(`${call.describe} refused (key ${principal?.keyId ?? 'none'}): ${(err as Error).message}`);
      throw err;
    }
    attachPrincipal(call.carrier, principal);
    return true;
  }
}

function authorize(principal: Principal, rule: AccessRule, input: unknown): void {
  if (rule.role && !grantsRole(principal.roles, rule.role)) {
    throw new BatonError(
      ErrorCode.PERMISSION_DENIED,
      `API key ${principal.keyId} does not have the ${rule.role} role (it has ${principal.roles.join(', ')})`,
    );
  }
  for (const namespace of rule.namespaces(input)) {
    if (typeof namespace === 'string' && !coversNamespace(principal.namespaces, namespace)) {
      throw new BatonError(
        ErrorCode.PERMISSION_DENIED,
        `API key ${principal.keyId} may not act in namespace "${namespace}"`,
        { field: 'namespace' },
      );
    }
  }
}

function apiCall(context: ExecutionContext): ApiCall | null {
  if (context.getType() === 'http') {
    const request = context.switchToHttp().getRequest<Request>();
    return {
      carrier: request,
      credential: () => bearer(request.headers[AUTH_HEADER]),
      input: request,
      describe: `${request.method} ${request.route?.path ?? request.path}`,
    };
  }
  const rpc = context.switchToRpc();
  const metadata = rpc.getContext<unknown>();
  // The other RPC transport is the internal bus (NATS or in-process): apps talking to each other.
  if (!(metadata instanceof Metadata)) return null;
  return {
    carrier: metadata,
    credential: () => {
      const [value] = metadata.get(AUTH_HEADER);
      return bearer(typeof value === 'string' ? value : undefined);
    },
    input: rpc.getData<unknown>(),
    describe: `${context.getClass().name}.${context.getHandler().name}`,
  };
}

/** The key in `Bearer <key>`; anything else is no key at all. */
function bearer(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const [scheme, key, ...rest] = header.trim().split(/\s+/);
  if (scheme?.toLowerCase() !== BEARER_SCHEME.toLowerCase() || !key || rest.length > 0) {
    throw new BatonError(ErrorCode.UNAUTHENTICATED, `the ${AUTH_HEADER} header must be "${BEARER_SCHEME} <key>"`);
  }
  return key;
}
