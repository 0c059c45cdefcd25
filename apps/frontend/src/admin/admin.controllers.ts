import { Controller, Get, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { LIMITS, Role, WorkerStatus, checkName } from '@baton/contracts';
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
import { BatonError } from '@baton/contracts';
import { InNamespace } from '../auth/namespaces-of';
import { BODY_FIELDS, HttpBody, HttpQuery, QUERY_FIELDS } from '../edge/http-input';
import { parseNamespace, parsePageSize, parseWorkerId } from '../edge/requests';
import type { Untrusted } from '../edge/requests';
import { Rpc } from '../edge/rpc';
import { workerToGrpc, workerToHttp } from '../edge/views';
import { WorkerProtocolService } from '../workers/worker-protocol.service';

type Raw = Record<string, unknown>;

const VERSION = '0.1.0';

function parseWorkerStatus(value: unknown): WorkerStatus | undefined {
  if (value === undefined || value === '' || value === null) return undefined;
  if (typeof value !== 'string' || !Object.values(WorkerStatus).includes(value as WorkerStatus)) {
    throw BatonError.invalid('status', `status must be one of ${Object.values(WorkerStatus).join(', ')}`);
  }
  return value as WorkerStatus;
}

function listFilter(raw: Untrusted<ListWorkersRequest>) {
  return {
    queue: raw.queue === undefined || raw.queue === '' ? undefined : checkName(raw.queue, 'queue'),
    status: parseWorkerStatus(raw.status),
  };
}

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
      listFilter(req),
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

@Controller('v1')
@Access(Role.ADMIN, InNamespace.path)
export class AdminHttpController {
  constructor(
    private readonly workers: WorkersRepository,
    private readonly queues: QueuesRepository,
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @Get('namespaces/:namespace/workers')
  async listWorkers(@Param('namespace') namespace: string, @HttpQuery(QUERY_FIELDS.listWorkers) query: Raw) {
    const list = await this.workers.list(
      parseNamespace(namespace),
      listFilter(query),
      parsePageSize(query.pageSize, LIMITS.workersPage),
    );
    return { workers: list.map(workerToHttp) };
  }

  @Get('namespaces/:namespace/workers/:workerId')
  async getWorker(
    @Param('namespace') namespace: string,
    @Param('workerId') workerId: string,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return workerToHttp(await this.workers.getOrThrow(parseNamespace(namespace), parseWorkerId(workerId)));
  }

  @Post('namespaces/:namespace/workers/:workerId/drain')
  @HttpCode(200)
  async drainWorker(
    @Param('namespace') namespace: string,
    @Param('workerId') workerId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return workerToHttp(await this.protocol.deregister(parseNamespace(namespace), parseWorkerId(workerId), true));
  }

  @Get('namespaces/:namespace/queues/:queue/stats')
  queueStats(
    @Param('namespace') namespace: string,
    @Param('queue') queue: string,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return this.queues.stats(parseNamespace(namespace), checkName(queue, 'queue'));
  }

  @Get('namespaces/:namespace/queues')
  async listQueues(@Param('namespace') namespace: string, @HttpQuery(QUERY_FIELDS.none) _query: Raw) {
    return { queues: await this.queues.list(parseNamespace(namespace)) };
  }

  @Get('info')
  @Access(null, InNamespace.none)
  serverInfo(@HttpQuery(QUERY_FIELDS.none) _query: Raw) {
    return serverInfo(this.config);
  }
}
