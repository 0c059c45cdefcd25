import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OnApplicationBootstrap } from '@nestjs/common';
import {
  ALL_NAMESPACES,
  API_KEYS,
  BatonError,
  ErrorCode,
  Patterns,
  coversNamespace,
  isLoopbackHost,
} from '@baton/contracts';
import type { ApiKeyRevokedEvent, ApiKeyView, BatonConfig, Role } from '@baton/contracts';
import { MessageBus } from '@baton/messaging';
import { ApiKeysRepository } from '@baton/persistence';
import { BATON_CONFIG, logStartUp } from '@baton/runtime';
import { BOOTSTRAP_PRINCIPAL } from './principal';
import type { Principal } from './principal';
import { RateLimiter } from './rate-limiter';

export interface NewApiKey {
  name: string;
  namespaces: string[];
  roles: Role[];
}

interface CachedLookup {
  principal: Promise<Principal | null>;
  expiresAt: number;
  /** Once the lookup answered: whose key it found (null: none). */
  keyId?: string | null;
}

// Distinct secrets remembered at once (bad ones included, so that guessing costs no database work).
const CACHE_MAX_ENTRIES = 10_000;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

const principalOfKey = (key: ApiKeyView): Principal => ({
  keyId: key.id,
  name: key.name,
  roles: key.roles,
  namespaces: key.namespaces,
});

/** Whether `caller` may see and manage `key`: every namespace of the key is one of the caller's. */
const manages = (caller: Principal, key: { namespaces: readonly string[] }) =>
  caller.namespaces.includes(ALL_NAMESPACES) ||
  (!key.namespaces.includes(ALL_NAMESPACES) && key.namespaces.every((ns) => caller.namespaces.includes(ns)));

/**
 * API keys: who a secret belongs to (cached for BATON_AUTH_CACHE_TTL; a
 * revocation reaches every frontend at once over the bus), and creating,
 * listing and revoking keys within the caller's own scope, so that no key
 * can mint a key with more power than it has.
 */
@Injectable()
export class ApiKeys implements OnApplicationBootstrap {
  private readonly logger = new Logger('ApiKeys');
  private readonly cache = new Map<string, CachedLookup>();
  private readonly bootstrapHash?: Buffer;

  constructor(
    private readonly keys: ApiKeysRepository,
    private readonly bus: MessageBus,
    private readonly limiter: RateLimiter,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {
    if (config.adminKey) this.bootstrapHash = sha256(config.adminKey);
  }

  /** One line saying who may call, at warn when anyone on the network may. */
  onApplicationBootstrap(): void {
    const { auth, host, adminKey } = this.config;
    if (auth === 'off' && !isLoopbackHost(host)) {
      this.logger.warn(
        `authentication is OFF: anyone who can reach the network (${host}) may act in every namespace; ` +
          'set BATON_AUTH=required and BATON_ADMIN_KEY to require API keys',
      );
    } else if (auth === 'off') {
      // Only this machine can connect: the all-in-one's default, which its ready line states.
      logStartUp(
        this.logger,
        `authentication is off: anyone on this machine (${host}) may act in every namespace; ` +
          'set BATON_AUTH=required and BATON_ADMIN_KEY to require API keys',
      );
    } else {
      logStartUp(
        this.logger,
        adminKey
          ? 'API keys required; the bootstrap admin key is BATON_ADMIN_KEY'
          : 'API keys required; no BATON_ADMIN_KEY is set, so only keys created earlier are accepted',
      );
    }
  }

  get required(): boolean {
    return this.config.auth === 'required';
  }

  /** The caller holding `secret`; UNAUTHENTICATED if there is none, it is unknown, or it was revoked. */
  async authenticate(secret: string | undefined): Promise<Principal> {
    if (secret === undefined || secret === '') {
      throw new BatonError(ErrorCode.UNAUTHENTICATED, 'an API key is required: send "Authorization: Bearer <key>"');
    }
    const hash = sha256(secret);
    if (this.bootstrapHash && timingSafeEqual(hash, this.bootstrapHash)) return BOOTSTRAP_PRINCIPAL;
    const principal = await this.lookup(hash);
    if (!principal) throw new BatonError(ErrorCode.UNAUTHENTICATED, 'the API key is not valid or was revoked');
    return principal;
  }

  async create(caller: Principal, request: NewApiKey): Promise<{ key: ApiKeyView; secret: string }> {
    for (const ns of request.namespaces) {
      // "*" is covered only by "*": a key of some namespaces cannot mint one of all.
      if (!coversNamespace(caller.namespaces, ns)) {
        throw new BatonError(ErrorCode.PERMISSION_DENIED, `this key may not grant access to namespace "${ns}"`, {
          field: 'namespaces',
        });
      }
    }
    const secret = API_KEYS.secretPrefix + randomBytes(API_KEYS.secretBytes).toString('base64url');
    const key = await this.keys.create({
      ...request,
      secretHash: sha256(secret),
      prefix: secret.slice(0, API_KEYS.shownPrefixChars),
    });
    this.logger.log(`API key ${key.id} "${key.name}" created by ${caller.keyId}`);
    return { key, secret };
  }

  async list(caller: Principal, includeRevoked: boolean): Promise<ApiKeyView[]> {
    return (await this.keys.list(includeRevoked)).filter((key) => manages(caller, key));
  }

  async revoke(caller: Principal, keyId: string): Promise<ApiKeyView> {
    const found = await this.keys.get(keyId);
    // A key outside the caller's scope is as invisible as one that does not exist.
    if (!found || !manages(caller, found)) throw BatonError.notFound(`API key ${keyId}`);
    const key = await this.keys.revoke(keyId);
    this.forget(keyId);
    this.bus.publish<ApiKeyRevokedEvent>(Patterns.apiKeyRevoked, { keyId });
    this.logger.log(`API key ${key.id} "${key.name}" revoked by ${caller.keyId}`);
    return key;
  }

  /** Drops what this frontend cached about a key (its revocation, heard here or from another frontend). */
  forget(keyId: string): void {
    // Lookups still in flight may have read the key before it was revoked: they go too.
    for (const [hash, entry] of this.cache) {
      if (entry.keyId === keyId || entry.keyId === undefined) this.cache.delete(hash);
    }
    this.limiter.forget(keyId);
  }

  private lookup(hash: Buffer): Promise<Principal | null> {
    const id = hash.toString('hex');
    const now = performance.now();
    const cached = this.cache.get(id);
    if (cached && cached.expiresAt > now) return cached.principal;
    if (cached) this.cache.delete(id);
    if (this.cache.size >= CACHE_MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    const entry: CachedLookup = {
      principal: this.keys.findActive(hash).then((key) => {
        entry.keyId = key?.id ?? null;
        return key ? principalOfKey(key) : null;
      }),
      expiresAt: now + this.config.authCacheMs,
    };
    this.cache.set(id, entry);
    // A failed lookup (database down) is not an answer: the next call asks again.
    entry.principal.catch(() => this.cache.get(id) === entry && this.cache.delete(id));
    return entry.principal;
  }
}
