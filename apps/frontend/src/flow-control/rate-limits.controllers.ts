import { Controller } from '@nestjs/common';
import { RateLimitScope, Role } from '@baton/contracts';
import type { RateLimitView } from '@baton/contracts';
import { RunEvents } from '@baton/messaging';
import { RateLimitsRepository } from '@baton/persistence';
import type { RateLimitTarget } from '@baton/persistence';
import type {
  DeleteRateLimitRequest,
  DeleteRateLimitResponse,
  ListRateLimitsRequest,
  ListRateLimitsResponse,
  RateLimit,
  SetRateLimitRequest,
} from '@baton/proto';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { parseRateLimitTarget, parseSetRateLimit } from '../edge/flow-control';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/admin';
import { parseNamespace } from '../edge/requests';
import { Rpc } from '../edge/rpc';

const isQueue = (limit: RateLimitView) => limit.scope === RateLimitScope.QUEUE;

function rateLimitToGrpc(limit: RateLimitView): RateLimit {
  return {
    namespace: limit.namespace,
    queue: isQueue(limit) ? limit.name : '',
    workflowType: isQueue(limit) ? '' : limit.name,
    limit: limit.limit,
    periodMs: limit.periodMs,
    createdAtMs: limit.createdAt.getTime(),
    updatedAtMs: limit.updatedAt.getTime(),
  };
}

function rateLimitToHttp(limit: RateLimitView) {
  return {
    namespace: limit.namespace,
    ...(isQueue(limit) ? { queue: limit.name } : { workflowType: limit.name }),
    limit: limit.limit,
    periodMs: limit.periodMs,
    createdAt: limit.createdAt.toISOString(),
    updatedAt: limit.updatedAt.toISOString(),
  };
}

/**
 * A queue's limit may have just grown or gone: matching claims for it again
 * now rather than when its timer for the old window fires. (A type's queues
 * are not known here; the fallback tick serves them.)
 */
function ringIfQueue(events: RunEvents, target: RateLimitTarget): void {
  if (target.scope === RateLimitScope.QUEUE) events.workAvailable(target.namespace, target.name);
}

/** AdminService's rate limits: at most N claims per period of a queue or a workflow type. */
@Controller()
@Access(Role.ADMIN, InNamespace.field)
export class RateLimitsGrpcController {
  constructor(
    private readonly limits: RateLimitsRepository,
    private readonly events: RunEvents,
  ) {}

  @Rpc('admin', 'SetRateLimit')
  async set(req: SetRateLimitRequest): Promise<RateLimit> {
    const cmd = parseSetRateLimit(req.namespace, req);
    const limit = await this.limits.set(cmd);
    ringIfQueue(this.events, cmd);
    return rateLimitToGrpc(limit);
  }

  @Rpc('admin', 'ListRateLimits')
  async list(req: ListRateLimitsRequest): Promise<ListRateLimitsResponse> {
    return { rateLimits: (await this.limits.list(parseNamespace(req.namespace))).map(rateLimitToGrpc) };
  }

  @Rpc('admin', 'DeleteRateLimit')
  async delete(req: DeleteRateLimitRequest): Promise<DeleteRateLimitResponse> {
    const target = parseRateLimitTarget(req.namespace, req);
    await this.limits.delete(target);
    ringIfQueue(this.events, target);
    return {};
  }
}

/** The same over HTTP: PUT sets (body), GET lists, DELETE removes (`?queue=` or `?workflowType=`). */
@Controller()
@Access(Role.ADMIN, InNamespace.path)
export class RateLimitsHttpController {
  constructor(
    private readonly limits: RateLimitsRepository,
    private readonly events: RunEvents,
  ) {}

  @HttpOperation(ops.setRateLimit)
  async set(@HttpInput() { params, body }: HttpRequestInput) {
    const cmd = parseSetRateLimit(params.namespace, body);
    const limit = await this.limits.set(cmd);
    ringIfQueue(this.events, cmd);
    return rateLimitToHttp(limit);
  }

  @HttpOperation(ops.listRateLimits)
  async list(@HttpInput() { params }: HttpRequestInput) {
    return { rateLimits: (await this.limits.list(parseNamespace(params.namespace))).map(rateLimitToHttp) };
  }

  @HttpOperation(ops.deleteRateLimit)
  async delete(@HttpInput() { params, query }: HttpRequestInput) {
    const target = parseRateLimitTarget(params.namespace, query);
    await this.limits.delete(target);
    ringIfQueue(this.events, target);
  }
}
