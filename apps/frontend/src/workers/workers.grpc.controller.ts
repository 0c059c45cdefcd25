import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import type { Metadata } from '@grpc/grpc-js';
import { Metadata as ResponseHeaders } from '@grpc/grpc-js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { Observable } from 'rxjs';
import { fromGrpcPayload, toGrpcPayload } from '../edge/payloads';
import type { GrpcPayload } from '../edge/payloads';
import {
  parseErrorInfo,
  parseLastStep,
  parseLease,
  parseNamespace,
  parsePollTypes,
  parseRegister,
  parseRetryPolicy,
  parseRunIds,
  parseSleepMs,
  parseStepRef,
  parseWorkerId,
} from '../edge/requests';
import { stepToGrpc } from '../edge/views';
import { checkName } from '@baton/contracts';
import { Inject } from '@nestjs/common';
import type { BatonConfig } from '@baton/contracts';
import { BATON_CONFIG } from '@baton/runtime';
import { CancellationFeeds } from './cancellation-feeds.service';
import { WorkerProtocolService } from './worker-protocol.service';
import type { Task } from './worker-protocol.service';

type Raw = Record<string, any>;

export function taskToGrpc(task: Task) {
  return {
    runId: task.runId,
    namespace: task.namespace,
    queue: task.queue,
    workflowType: task.workflowType,
    input: toGrpcPayload(task.input),
    attempt: task.attempt,
    leaseEpoch: task.leaseEpoch,
    deadlineAtMs: task.deadlineAt ?? undefined,
    correlationId: task.correlationId ?? '',
    traceId: task.traceId ?? '',
    history: task.history.map(stepToGrpc),
  };
}

@Controller()
export class WorkersGrpcController {
  constructor(
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly feeds: CancellationFeeds,
  ) {}

  private get limit() {
    return this.config.payloadLimitBytes;
  }

  @GrpcMethod('WorkerService', 'Register')
  async register(req: Raw) {
    const { worker, ...timing } = await this.protocol.register(parseRegister(req.namespace, req));
    return { workerId: worker.id, ...timing };
  }

  @GrpcMethod('WorkerService', 'Heartbeat')
  async heartbeat(req: Raw) {
    return this.protocol.heartbeat(
      parseNamespace(req.namespace),
      parseWorkerId(req.workerId),
      parseRunIds(req.activeRunIds, 'activeRunIds'),
    );
  }

  @GrpcMethod('WorkerService', 'Deregister')
  async deregister(req: Raw) {
    const worker = await this.protocol.deregister(
      parseNamespace(req.namespace),
      parseWorkerId(req.workerId),
      !!req.drain,
    );
    return { status: worker.status };
  }

  @GrpcMethod('WorkerService', 'PollTask')
  async pollTask(req: Raw, _metadata: Metadata, call: ServerUnaryCall<unknown, unknown>) {
    const task = await this.protocol.poll(
      {
        namespace: parseNamespace(req.namespace),
        queue: checkName(req.queue, 'queue'),
        workerId: parseWorkerId(req.workerId),
        workflowTypes: parsePollTypes(req.workflowTypes),
      },
      () => call.cancelled,
    );
    return task ? { task: taskToGrpc(task) } : {};
  }

  @GrpcMethod('WorkerService', 'BeginStep')
  async beginStep(req: Raw) {
    const { stepId, seq } = parseStepRef(req);
    const begin = await this.protocol.beginStep(parseLease(req.lease), stepId, seq);
    if (begin.execute) return { shouldExecute: true, attempt: begin.attempt };
    const step = stepToGrpc(begin.step);
    return { shouldExecute: false, attempt: step.attempt, output: step.output, error: step.error };
  }

  @GrpcMethod('WorkerService', 'CompleteStep')
  async completeStep(req: Raw) {
    const { stepId, seq } = parseStepRef(req);
    const lease = parseLease(req.lease);
    const output = fromGrpcPayload(req.output, 'output', this.limit);
    return this.protocol.completeStep(lease, stepId, seq, output);
  }

  @GrpcMethod('WorkerService', 'FailStep')
  async failStep(req: Raw) {
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

  @GrpcMethod('WorkerService', 'Sleep')
  async sleep(req: Raw) {
    const { stepId, seq } = parseStepRef(req);
    const lease = parseLease(req.lease);
    const result = await this.protocol.sleep(lease, stepId, seq, parseSleepMs(req.durationMs, this.config));
    return { suspended: result.suspended, wakeUpAtMs: result.wakeUpAt?.getTime() };
  }

  @GrpcMethod('WorkerService', 'CompleteWorkflow')
  async completeWorkflow(req: Raw) {
    const lease = parseLease(req.lease);
    const output = fromGrpcPayload(req.output, 'output', this.limit);
    const last = parseLastStep(req.lastStep);
    const lastStep = last && {
      stepId: last.stepId,
      seq: last.seq,
      // Decoded by proto-loader as a Payload message.
      output: fromGrpcPayload(last.body.output as GrpcPayload | undefined, last.outputField, this.limit),
    };
    await this.protocol.completeWorkflow(lease, output, lastStep);
    return {};
  }

  @GrpcMethod('WorkerService', 'FailWorkflow')
  async failWorkflow(req: Raw) {
    const outcome = await this.protocol.failWorkflow(parseLease(req.lease), parseErrorInfo(req.error));
    return {
      status: outcome.status,
      willRetry: outcome.retry,
      retryAtMs: outcome.retry ? outcome.retryAt.getTime() : undefined,
      attempt: outcome.attempt,
    };
  }

  /** Server stream: the ids of this worker's runs as they are cancelled, until either side ends it. */
  @GrpcMethod('WorkerService', 'WatchCancellations')
  async watchCancellations(req: Raw, _metadata: Metadata, call: ServerWritableStream<unknown, unknown>) {
    const namespace = parseNamespace(req.namespace);
    const workerId = parseWorkerId(req.workerId);
    await this.feeds.checkWorker(namespace, workerId);
    return new Observable<{ runIds: string[] }>((subscriber) => {
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
