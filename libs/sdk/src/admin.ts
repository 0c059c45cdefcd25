import type { Role } from '@baton/contracts';
import type { ApiKey as ApiKeyMessage, QueueSummary as QueueSummaryMessage } from '@baton/proto';
import { checkOptions, sendChecked } from './schedules';
import type { Transport } from './transport';
import { workerFromWire } from './views';
import type { WorkerInfo } from './views';

/** What an API key may do: `client` (runs, schedules), `worker` (the worker protocol), `admin` (everything). */
export type ApiKeyRole = Role;

/** An API key as the server lists it: never its secret. */
export interface ApiKey {
  id: string;
  name: string;
  /** The secret's first characters, to recognise the key. */
  prefix: string;
  /** Namespaces the key may act in; `'*'` is every namespace. */
  namespaces: string[];
  roles: ApiKeyRole[];
  createdAt: Date;
  /** Set once the key is revoked: it is refused from then on. */
  revokedAt: Date | null;
}

/** Options of `client.admin.createApiKey`. */
export interface CreateApiKeyOptions {
  /** A label for people: unique names are not enforced. */
  name: string;
  /** Namespaces the key may act in; `['*']` for every namespace. */
  namespaces: string[];
  roles: ApiKeyRole[];
}

/** A key just created: `secret` is shown this once (the server keeps only its hash). */
export interface CreatedApiKey {
  key: ApiKey;
  /** Sent as `Authorization: Bearer <secret>`; pass it as `apiKey` to Client and Worker, or BATON_API_KEY. */
  secret: string;
}

/** One task queue of the namespace and its backlog. */
export interface QueueSummary {
  namespace: string;
  queue: string;
  pending: number;
  running: number;
  sleeping: number;
  /** How long the oldest claimable run has waited to be claimed, in ms; null when none waits. */
  oldestClaimableAgeMs: number | null;
}

const CREATE_KEY_OPTIONS: ReadonlyArray<keyof CreateApiKeyOptions> = ['name', 'namespaces', 'roles'];

function apiKeyFromWire(m: ApiKeyMessage | undefined = {}): ApiKey {
  return {
    id: m.id ?? '',
    name: m.name ?? '',
    prefix: m.prefix ?? '',
    namespaces: m.namespaces ?? [],
    roles: (m.roles ?? []) as ApiKeyRole[],
    createdAt: new Date(m.createdAtMs ?? 0),
    revokedAt: m.revokedAtMs === undefined ? null : new Date(m.revokedAtMs),
  };
}

function queueFromWire(m: QueueSummaryMessage): QueueSummary {
  return {
    namespace: m.namespace ?? '',
    queue: m.queue ?? '',
    pending: m.pending ?? 0,
    running: m.running ?? 0,
    sleeping: m.sleeping ?? 0,
    oldestClaimableAgeMs: m.oldestClaimableAgeMs ?? null,
  };
}

/**
 * Operating a deployment (`client.admin`, an admin key): workers, queues and
 * API keys. Workers and queues are those of the client's namespace; API keys
 * are global.
 *
 * ```ts
 * const { secret } = await client.admin.createApiKey({ name: 'ci', namespaces: ['default'], roles: ['client'] });
 * for (const q of await client.admin.queues()) console.log(q.queue, q.pending);
 * ```
 */
export class Admin {
  constructor(
    private readonly transport: Pick<Transport, 'call'>,
    private readonly namespace: string,
  ) {}

  /**
   * Puts a worker into DRAINING: it finishes the runs it holds and is given
   * no more, then goes OFFLINE. Returns the worker as it is now.
   * @throws BatonError NOT_FOUND when the namespace has no such worker.
   */
  async drainWorker(workerId: string): Promise<WorkerInfo> {
    return workerFromWire(
      await sendChecked(this.transport, 'admin', 'DrainWorker', { namespace: this.namespace, workerId }),
    );
  }

  /**
   * The namespace's task queues (those with a run or a registered worker), by
   * name, with their backlog.
   */
  async queues(): Promise<QueueSummary[]> {
    const res = await sendChecked(this.transport, 'admin', 'ListQueues', { namespace: this.namespace });
    return (res.queues ?? []).map(queueFromWire);
  }

  /**
   * Creates an API key.
   * @throws BatonError INVALID_ARGUMENT (naming the field) for an empty name, an unknown role or no namespace.
   */
  async createApiKey(options: CreateApiKeyOptions): Promise<CreatedApiKey> {
    checkOptions(options, CREATE_KEY_OPTIONS, 'options');
    const res = await sendChecked(this.transport, 'admin', 'CreateApiKey', {
      name: options.name,
      namespaces: options.namespaces,
      roles: options.roles,
    });
    return { key: apiKeyFromWire(res.key), secret: res.secret ?? '' };
  }

  /**
   * The API keys the caller may manage (every key, for an admin key of every
   * namespace), oldest first; revoked ones too with `includeRevoked`.
   */
  async apiKeys(options: { includeRevoked?: boolean } = {}): Promise<ApiKey[]> {
    checkOptions(options, ['includeRevoked'], 'options');
    const res = await sendChecked(this.transport, 'admin', 'ListApiKeys', {
      includeRevoked: options.includeRevoked ?? false,
    });
    return (res.keys ?? []).map(apiKeyFromWire);
  }

  /**
   * Revokes a key: calls carrying it are refused from now on, on every
   * frontend. Revoking a revoked key returns it unchanged.
   * @throws BatonError NOT_FOUND when there is no such key.
   */
  async revokeApiKey(keyId: string): Promise<ApiKey> {
    return apiKeyFromWire(await sendChecked(this.transport, 'admin', 'RevokeApiKey', { keyId }));
  }
}
