import { Controller, Inject } from '@nestjs/common';
import { LIMITS, Role, checkName } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { QueuesRepository, WorkersRepository } from '@baton/persistence';
import type { QueueBacklog } from '@baton/persistence';
import type {
  GetWorkerRequest,
  HealthResponse,
  ListQueuesRequest,
  ListQueuesResponse,
  ListWorkersRequest,
  ListWorkersResponse,
  QueueSummary,
  QueueStatsRequest,
  QueueStatsResponse,
  ServerInfoResponse,
  Worker,
} from '@baton/proto';
import { Access, BATON_CONFIG, Public } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { parseWorkerFilter } from '../edge/admin';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/admin';
import { parseNamespace, parsePageSize, parseWorkerId } from '../edge/requests';
import { Rpc } from '../edge/rpc';
import { workerToGrpc, workerToHttp } from '../edge/views';
import { WorkerProtocolService } from '../workers/worker-protocol.service';

const VERSION = '0.1.0';

function queueToGrpc(queue: QueueBacklog): QueueSummary {
  return { ...queue, oldestClaimableAgeMs: queue.oldestClaimableAgeMs ?? undefined };
}

/** AdminService: workers, queues, health and server facts. */
@Controller()
@Access(Role.ADMIN, InNamespace.field)
export class AdminGrpcController {
  constructor(
    private readonly workers: WorkersRepository,
    private readonly queues: QueuesRepository,
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @Rpc('admin', 'ListWorkers')
  async listWorkers(req: ListWorkersRequest): Promise<ListWorkersResponse> {
    const list = await this.workers.list(
      parseNamespace(req.namespace),
      parseWorkerFilter(req),
      parsePageSize(req.pageSize, LIMITS.workersPage),
    );
    return { workers: list.map(workerToGrpc) };
  }

  @Rpc('admin', 'GetWorker')
  async getWorker(req: GetWorkerRequest): Promise<Worker> {
    return workerToGrpc(await this.workers.getOrThrow(parseNamespace(req.namespace), parseWorkerId(req.workerId)));
  }

  @Rpc('admin', 'DrainWorker')
  async drainWorker(req: GetWorkerRequest): Promise<Worker> {
    return workerToGrpc(
      await this.protocol.deregister(parseNamespace(req.namespace), parseWorkerId(req.workerId), true),
    );
  }

  @Rpc('admin', 'QueueStats')
  queueStats(req: QueueStatsRequest): Promise<QueueStatsResponse> {
    return this.queues.stats(parseNamespace(req.namespace), checkName(req.queue, 'queue'));
  }

  @Rpc('admin', 'ListQueues')
  async listQueues(req: ListQueuesRequest): Promise<ListQueuesResponse> {
    return { queues: (await this.queues.list(parseNamespace(req.namespace))).map(queueToGrpc) };
  }

  // Load balancers and probes carry no keys; it tells nothing but "serving".
  @Rpc('admin', 'Health')
  @Public()
  health(): HealthResponse {
    return { status: 'SERVING' };
  }

  @Rpc('admin', 'ServerInfo')
  @Access(null, InNamespace.none)
  serverInfo(): ServerInfoResponse {
    return serverInfo(this.config);
  }
}

function serverInfo(config: BatonConfig): ServerInfoResponse {
  return {
    version: VERSION,
    payloadLimitBytes: config.payloadLimitBytes,
    maxSleepMs: config.maxSleepMs,
    pollTimeoutMs: config.pollTimeoutMs,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
  };
}

@Controller()
@Access(Role.ADMIN, InNamespace.path)
export class AdminHttpController {
  constructor(
    private readonly workers: WorkersRepository,
    private readonly queues: QueuesRepository,
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @HttpOperation(ops.listWorkers)
  async listWorkers(@HttpInput() { params, query }: HttpRequestInput) {
    const list = await this.workers.list(
      parseNamespace(params.namespace),
      parseWorkerFilter(query),
      parsePageSize(query.pageSize, LIMITS.workersPage),
    );
    return { workers: list.map(workerToHttp) };
  }

  @HttpOperation(ops.getWorker)
  async getWorker(@HttpInput() { params }: HttpRequestInput) {
    return workerToHttp(
      await this.workers.getOrThrow(parseNamespace(params.namespace), parseWorkerId(params.workerId)),
    );
  }

  @HttpOperation(ops.drainWorker)
  async drainWorker(@HttpInput() { params }: HttpRequestInput) {
    const worker = await this.protocol.deregister(
      parseNamespace(params.namespace),
      parseWorkerId(params.workerId),
      true,
    );
    return workerToHttp(worker);
  }

  @HttpOperation(ops.queueStats)
  queueStats(@HttpInput() { params }: HttpRequestInput) {
    return this.queues.stats(parseNamespace(params.namespace), checkName(params.queue, 'queue'));
  }

  @HttpOperation(ops.listQueues)
  async listQueues(@HttpInput() { params }: HttpRequestInput) {
    return { queues: await this.queues.list(parseNamespace(params.namespace)) };
  }

  @HttpOperation(ops.serverInfo)
  @Access(null, InNamespace.none)
  serverInfo(@HttpInput() _input: HttpRequestInput) {
    return serverInfo(this.config);
  }
}
