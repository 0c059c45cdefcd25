import { Controller, Inject, Res, UseInterceptors } from '@nestjs/common';
import { Role, checkName } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { Access, BATON_CONFIG } from '@baton/runtime';
import type { Response } from 'express';
import { parseDrain } from '../edge/http-input';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/workers';
import { fromHttpPayload, lastStepFromHttp } from '../edge/payloads';
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
  parseWorkerId,
  parseStepDuration,
} from '../edge/requests';
import { stepToHttp, taskToHttp, workerToHttp } from '../edge/views';
import { CancellationFeeds } from './cancellation-feeds.service';
import { PollLimitInterceptor } from './poll-limit.interceptor';
import { WorkerProtocolService } from './worker-protocol.service';
import { InNamespace } from '../auth/namespaces-of';

/** The worker protocol over HTTP/JSON: the same operations as gRPC WorkerService. */
@Controller()
@Access(Role.WORKER, InNamespace.path)
export class WorkersHttpController {
  constructor(
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly feeds: CancellationFeeds,
  ) {}

  private lease({ params, body }: HttpRequestInput) {
    const { workerId, leaseEpoch, leaseToken } = body;
    return parseLease({ namespace: params.namespace, runId: params.runId, workerId, leaseEpoch, leaseToken });
  }

  @HttpOperation(ops.registerWorker)
  async register(@HttpInput() { params, body }: HttpRequestInput) {
    const { worker, ...timing } = await this.protocol.register(parseRegister(params.namespace, body));
    return { workerId: worker.id, worker: workerToHttp(worker), ...timing };
  }

  @HttpOperation(ops.heartbeat)
  heartbeat(@HttpInput() { params, body }: HttpRequestInput) {
    return this.protocol.heartbeat(
      parseNamespace(params.namespace),
      parseWorkerId(params.workerId),
      parseRunIds(body.activeRunIds, 'activeRunIds'),
    );
  }

  @HttpOperation(ops.deregisterWorker)
  async deregister(@HttpInput() { params, query }: HttpRequestInput) {
    const worker = await this.protocol.deregister(
      parseNamespace(params.namespace),
      parseWorkerId(params.workerId),
      parseDrain(query.drain),
    );
    return { status: worker.status };
  }

  @HttpOperation(ops.poll)
  @UseInterceptors(PollLimitInterceptor)
  async poll(@HttpInput() { params, body }: HttpRequestInput, @Res({ passthrough: true }) res: Response) {
    // The response's 'close' (not the request's: that fires once the body has been read)
    // tells whether the caller hung up before we answered.
    let gone = false;
    res.on('close', () => (gone = !res.writableFinished));
    const workerId = parseWorkerId(params.workerId);
    const tasks = await this.protocol.poll(
      {
        namespace: parseNamespace(params.namespace),
        queue: checkName(body.queue, 'queue'),
        workerId,
        workflowTypes: parsePollTypes(body.workflowTypes),
        maxTasks: parseMaxTasks(body.maxTasks),
      },
      () => gone || res.destroyed,
    );
    if (tasks.length > 0) {
      // The connection dropped before the answer was written out: nobody received the tasks.
      res.once('close', () => {
        if (res.writableFinished) return;
        for (const task of tasks) {
          this.protocol.release(task.runId ?? '', workerId, task.leaseEpoch ?? 0).catch(() => undefined);
        }
      });
    }
    const [task, ...moreTasks] = tasks;
    return { task: task ? taskToHttp(task) : null, moreTasks: moreTasks.map(taskToHttp) };
  }

  /**
   * Long poll, the HTTP form of WatchCancellations: the ids of this worker's
   * runs cancelled while it waits, or none after the poll timeout. Cancels
   * between two polls arrive with the worker's next heartbeat instead.
   */
  @HttpOperation(ops.cancellations)
  async cancellations(@HttpInput() { params }: HttpRequestInput, @Res({ passthrough: true }) res: Response) {
    const ns = parseNamespace(params.namespace);
    const id = parseWorkerId(params.workerId);
    await this.feeds.checkWorker(ns, id);
    const hungUp = new AbortController();
    res.on('close', () => hungUp.abort());
    return { runIds: await this.feeds.next(ns, id, this.config.pollTimeoutMs, hungUp.signal) };
  }

  @HttpOperation(ops.beginStep)
  async beginStep(@HttpInput() input: HttpRequestInput) {
    const { stepId, seq } = parseStepRef({ stepId: input.params.stepId, seq: input.body.seq });
    const begin = await this.protocol.beginStep(this.lease(input), stepId, seq);
    if (begin.execute) return { shouldExecute: true, attempt: begin.attempt };
    const step = stepToHttp(begin.step);
    return { shouldExecute: false, ...step };
  }

  @HttpOperation(ops.completeStep)
  completeStep(@HttpInput() input: HttpRequestInput) {
    const { stepId, seq } = parseStepRef({ stepId: input.params.stepId, seq: input.body.seq });
    const lease = this.lease(input);
    const output = fromHttpPayload(input.body, 'output', this.config.payloadLimitBytes);
    const durationMs = parseStepDuration(input.body.durationMs);
    return this.protocol.completeStep(lease, { stepId, seq, output, durationMs });
  }

  @HttpOperation(ops.failStep)
  async failStep(@HttpInput() input: HttpRequestInput) {
    const { body } = input;
    const { stepId, seq } = parseStepRef({ stepId: input.params.stepId, seq: body.seq });
    const lease = this.lease(input);
    const outcome = await this.protocol.failStep(
      lease,
      stepId,
      seq,
      parseErrorInfo(body.error),
      parseRetryPolicy(body.retry),
    );
    return {
      willRetry: outcome.retry,
      retryAt: outcome.retry ? outcome.retryAt.toISOString() : null,
      attempt: outcome.attempt,
    };
  }

  @HttpOperation(ops.sleep)
  async sleep(@HttpInput() input: HttpRequestInput) {
    const { body } = input;
    const { stepId, seq } = parseStepRef({ stepId: body.stepId, seq: body.seq });
    const lease = this.lease(input);
    const durationMs = parseSleepMs(body.durationMs ?? body.duration, this.config);
    const waitedMs = parseSleepWaited(body.waitedMs);
    const lastStep = lastStepFromHttp(body.lastStep, this.config.payloadLimitBytes);
    const result = await this.protocol.sleep(lease, stepId, seq, durationMs, lastStep, waitedMs);
    return { suspended: result.suspended, wakeUpAt: result.wakeUpAt?.toISOString() ?? null };
  }

  @HttpOperation(ops.completeWorkflow)
  async completeWorkflow(@HttpInput() input: HttpRequestInput) {
    const lease = this.lease(input);
    const limit = this.config.payloadLimitBytes;
    const output = fromHttpPayload(input.body, 'output', limit);
    await this.protocol.completeWorkflow(lease, output, lastStepFromHttp(input.body.lastStep, limit));
    return {};
  }

  @HttpOperation(ops.failWorkflow)
  async failWorkflow(@HttpInput() input: HttpRequestInput) {
    const lease = this.lease(input);
    const outcome = await this.protocol.failWorkflow(lease, parseErrorInfo(input.body.error));
    return {
      status: outcome.status,
      willRetry: outcome.retry,
      retryAt: outcome.retry ? outcome.retryAt.toISOString() : null,
      attempt: outcome.attempt,
    };
  }
}
