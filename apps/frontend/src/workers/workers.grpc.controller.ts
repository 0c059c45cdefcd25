import { Controller, Inject, Logger, UseInterceptors } from '@nestjs/common';
import type { Metadata, ServerUnaryCall, ServerWritableStream } from '@grpc/grpc-js';
import { Metadata as ResponseHeaders } from '@grpc/grpc-js';
import { Observable } from 'rxjs';
import { BatonError, Role, checkName, stepMessage } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import type {
  BeginStepRequest,
  BeginStepResponse,
  Cancellation,
  CompleteStepRequest,
  CompleteStepResponse,
  CompleteWorkflowRequest,
  CompleteWorkflowResponse,
  DeregisterRequest,
  DeregisterResponse,
  FailStepRequest,
  FailStepResponse,
  FailWorkflowRequest,
  FailWorkflowResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  PollTaskRequest,
  PollTaskResponse,
  RegisterRequest,
  RegisterResponse,
  SleepRequest,
  SleepResponse,
  WatchCancellationsRequest,
  WorkerBatchRequest,
  WorkerBatchResponse,
  WorkerCall,
  WorkerCallOutcome,
} from '@baton/proto';
import { WORKER_BATCH_CALLS } from '@baton/proto';
import { Access, BATON_CONFIG } from '@baton/runtime';
import { fromGrpcPayload, lastStepFromGrpc } from '../edge/payloads';
import {
  parseErrorInfo,
  parseLease,
  parseNamespace,
  parseMaxTasks,
  parsePollTypes,
  parseRegister,
  parseRetryPolicy,
  parseRunIds,
  parseSleepMs,
  parseSleepWaited,
  parseStepRef,
  parseWorkerBatch,
  parseWorkerId,
  parseStepDuration,
} from '../edge/requests';
import { Rpc, RpcStream, callErrorOf } from '../edge/rpc';
import { CancellationFeeds } from './cancellation-feeds.service';
import { PollLimitInterceptor } from './poll-limit.interceptor';
import { WorkerProtocolService } from './worker-protocol.service';
import { InNamespace } from '../auth/namespaces-of';

@Controller()
@Access(Role.WORKER, InNamespace.field)
export class WorkersGrpcController {
  private readonly logger = new Logger(WorkersGrpcController.name);

  constructor(
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly feeds: CancellationFeeds,
  ) {}

  private get limit() {
    return this.config.payloadLimitBytes;
  }

  @Rpc('worker', 'Register')
  async register(req: RegisterRequest): Promise<RegisterResponse> {
    const { worker, ...timing } = await this.protocol.register(parseRegister(req.namespace, req));
    return { workerId: worker.id, ...timing };
  }

  @Rpc('worker', 'Heartbeat')
  async heartbeat(req: HeartbeatRequest): Promise<HeartbeatResponse> {
    return this.protocol.heartbeat(
      parseNamespace(req.namespace),
      parseWorkerId(req.workerId),
      parseRunIds(req.activeRunIds, 'activeRunIds'),
    );
  }

  @Rpc('worker', 'Deregister')
  async deregister(req: DeregisterRequest): Promise<DeregisterResponse> {
    const worker = await this.protocol.deregister(
      parseNamespace(req.namespace),
      parseWorkerId(req.workerId),
      !!req.drain,
    );
    return { status: worker.status };
  }

  @Rpc('worker', 'PollTask')
  @UseInterceptors(PollLimitInterceptor)
  async pollTask(
    req: PollTaskRequest,
    _metadata: Metadata,
    call: ServerUnaryCall<PollTaskRequest, PollTaskResponse>,
  ): Promise<PollTaskResponse> {
    const [task, ...moreTasks] = await this.protocol.poll(
      {
        namespace: parseNamespace(req.namespace),
        queue: checkName(req.queue, 'queue'),
        workerId: parseWorkerId(req.workerId),
        workflowTypes: parsePollTypes(req.workflowTypes),
        maxTasks: parseMaxTasks(req.maxTasks),
      },
      () => call.cancelled,
    );
    return task ? { task, moreTasks } : {};
  }

  @Rpc('worker', 'BeginStep')
  @Access(Role.WORKER, InNamespace.lease)
  async beginStep(req: BeginStepRequest): Promise<BeginStepResponse> {
    const { stepId, seq } = parseStepRef(req);
    const begin = await this.protocol.beginStep(parseLease(req.lease), stepId, seq);
    if (begin.execute) return { shouldExecute: true, attempt: begin.attempt };
    const step = stepMessage(begin.step);
    return { shouldExecute: false, attempt: step.attempt, output: step.output, error: step.error };
  }

  @Rpc('worker', 'CompleteStep')
  @Access(Role.WORKER, InNamespace.lease)
  async completeStep(req: CompleteStepRequest): Promise<CompleteStepResponse> {
    const { stepId, seq } = parseStepRef(req);
    const lease = parseLease(req.lease);
    const output = fromGrpcPayload(req.output, 'output', this.limit);
    return this.protocol.completeStep(lease, { stepId, seq, output, durationMs: parseStepDuration(req.durationMs) });
  }

  @Rpc('worker', 'FailStep')
  @Access(Role.WORKER, InNamespace.lease)
  async failStep(req: FailStepRequest): Promise<FailStepResponse> {
    const { stepId, seq } = parseStepRef(req);
    const lease = parseLease(req.lease);
    const outcome = await this.protocol.failStep(
      lease,
      stepId,
      seq,
      parseErrorInfo(req.error),
      parseRetryPolicy(req.retry),
    );
    return {
      willRetry: outcome.retry,
      retryAtMs: outcome.retry ? outcome.retryAt.getTime() : undefined,
      attempt: outcome.attempt,
    };
  }

  @Rpc('worker', 'Sleep')
  @Access(Role.WORKER, InNamespace.lease)
  async sleep(req: SleepRequest): Promise<SleepResponse> {
    const { stepId, seq } = parseStepRef(req);
    const lease = parseLease(req.lease);
    const durationMs = parseSleepMs(req.durationMs, this.config);
    const waitedMs = parseSleepWaited(req.waitedMs);
    const lastStep = lastStepFromGrpc(req.lastStep, this.limit);
    const result = await this.protocol.sleep(lease, stepId, seq, durationMs, lastStep, waitedMs);
    return { suspended: result.suspended, wakeUpAtMs: result.wakeUpAt?.getTime() };
  }

  @Rpc('worker', 'CompleteWorkflow')
  @Access(Role.WORKER, InNamespace.lease)
  async completeWorkflow(req: CompleteWorkflowRequest): Promise<CompleteWorkflowResponse> {
    const lease = parseLease(req.lease);
    const output = fromGrpcPayload(req.output, 'output', this.limit);
    await this.protocol.completeWorkflow(lease, output, lastStepFromGrpc(req.lastStep, this.limit));
    return {};
  }

  @Rpc('worker', 'FailWorkflow')
  @Access(Role.WORKER, InNamespace.lease)
  async failWorkflow(req: FailWorkflowRequest): Promise<FailWorkflowResponse> {
    const outcome = await this.protocol.failWorkflow(parseLease(req.lease), parseErrorInfo(req.error));
    return {
      status: outcome.status,
      willRetry: outcome.retry,
      retryAtMs: outcome.retry ? outcome.retryAt.getTime() : undefined,
      attempt: outcome.attempt,
    };
  }

  /**
   * Each call as its lone RPC, answered with that RPC's outcome. All are
   * started in one turn, so the group commits apply the completions (and the
   * sleeps' and failures' records) of one batch together.
   */
  @Rpc('worker', 'Batch')
  @Access(Role.WORKER, InNamespace.batch)
  async batch(req: WorkerBatchRequest): Promise<WorkerBatchResponse> {
    // Decoded by gRPC as WorkerCall messages; each is checked like its lone call.
    const calls = parseWorkerBatch(req.calls) as WorkerCall[];
    return { outcomes: await Promise.all(calls.map((call) => this.batchCall(call))) };
  }

  private async batchCall(call: WorkerCall): Promise<WorkerCallOutcome> {
    try {
      if (call.beginStep) return { beginStep: await this.beginStep(call.beginStep) };
      if (call.completeStep) return { completeStep: await this.completeStep(call.completeStep) };
      if (call.failStep) return { failStep: await this.failStep(call.failStep) };
      if (call.sleep) return { sleep: await this.sleep(call.sleep) };
      if (call.completeWorkflow) return { completeWorkflow: await this.completeWorkflow(call.completeWorkflow) };
      if (call.failWorkflow) return { failWorkflow: await this.failWorkflow(call.failWorkflow) };
      throw BatonError.invalid('call', `a worker call must be one of: ${Object.values(WORKER_BATCH_CALLS).join(', ')}`);
    } catch (err) {
      return { error: callErrorOf(err, this.logger) };
    }
  }

  /** Server stream: the ids of this worker's runs as they are cancelled, until either side ends it. */
  @RpcStream('worker', 'WatchCancellations')
  async watchCancellations(
    req: WatchCancellationsRequest,
    _metadata: Metadata,
    call: ServerWritableStream<WatchCancellationsRequest, Cancellation>,
  ): Promise<Observable<Cancellation>> {
    const namespace = parseNamespace(req.namespace);
    const workerId = parseWorkerId(req.workerId);
    await this.feeds.checkWorker(namespace, workerId);
    return new Observable<Cancellation>((subscriber) => {
      const close = this.feeds.open(namespace, workerId, {
        cancelled: (runId) => subscriber.next({ runIds: [runId] }),
        closed: () => subscriber.complete(),
      });
      // The response headers tell the worker the feed is live: every cancel from now on is pushed.
      call.sendMetadata(new ResponseHeaders());
      return close;
    });
  }
}
