import { Controller, Delete, HttpCode, Inject, Param, Post, Res, UseInterceptors } from '@nestjs/common';
import { Role, checkName } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { Access, BATON_CONFIG } from '@baton/runtime';
import type { Response } from 'express';
import { BODY_FIELDS, HttpBody, HttpQuery, QUERY_FIELDS, parseDrain } from '../edge/http-input';
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
  parseStepRef,
  parseWorkerId,
} from '../edge/requests';
import { stepToHttp, taskToHttp, workerToHttp } from '../edge/views';
import { CancellationFeeds } from './cancellation-feeds.service';
import { PollLimitInterceptor } from './poll-limit.interceptor';
import { WorkerProtocolService } from './worker-protocol.service';
import { InNamespace } from '../auth/namespaces-of';

type Raw = Record<string, unknown>;

/** The worker protocol over HTTP/JSON: the same operations as gRPC WorkerService. */
@Controller('v1/namespaces/:namespace')
@Access(Role.WORKER, InNamespace.path)
export class WorkersHttpController {
  constructor(
    private readonly protocol: WorkerProtocolService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
    private readonly feeds: CancellationFeeds,
  ) {}

  private lease(namespace: unknown, runId: unknown, body: Raw) {
    const { workerId, leaseEpoch, leaseToken } = body;
    return parseLease({ namespace, runId, workerId, leaseEpoch, leaseToken });
  }

  @Post('workers')
  @HttpCode(201)
  async register(
    @Param('namespace') namespace: string,
    @HttpBody(BODY_FIELDS.register) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const { worker, ...timing } = await this.protocol.register(parseRegister(namespace, body));
    return { workerId: worker.id, worker: workerToHttp(worker), ...timing };
  }

  @Post('workers/:workerId/heartbeat')
  @HttpCode(200)
  heartbeat(
    @Param('namespace') namespace: string,
    @Param('workerId') workerId: string,
    @HttpBody(BODY_FIELDS.heartbeat) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return this.protocol.heartbeat(
      parseNamespace(namespace),
      parseWorkerId(workerId),
      parseRunIds(body.activeRunIds, 'activeRunIds'),
    );
  }

  @Delete('workers/:workerId')
  async deregister(
    @Param('namespace') namespace: string,
    @Param('workerId') workerId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.deregister) query: Raw,
  ) {
    const worker = await this.protocol.deregister(
      parseNamespace(namespace),
      parseWorkerId(workerId),
      parseDrain(query.drain),
    );
    return { status: worker.status };
  }

  @Post('workers/:workerId/poll')
  @HttpCode(200)
  @UseInterceptors(PollLimitInterceptor)
  async poll(
    @Param('namespace') namespace: string,
    @Param('workerId') workerId: string,
    @HttpBody(BODY_FIELDS.poll) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
    @Res({ passthrough: true }) res: Response,
  ) {
    // The response's 'close' (not the request's: that fires once the body has been read)
    // tells whether the caller hung up before we answered.
    let gone = false;
    res.on('close', () => (gone = !res.writableFinished));
    const tasks = await this.protocol.poll(
      {
        namespace: parseNamespace(namespace),
        queue: checkName(body.queue, 'queue'),
        workerId: parseWorkerId(workerId),
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
          this.protocol.release(task.runId ?? '', parseWorkerId(workerId), task.leaseEpoch ?? 0).catch(() => undefined);
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
  @Post('workers/:workerId/cancellations')
  @HttpCode(200)
  async cancellations(
    @Param('namespace') namespace: string,
    @Param('workerId') workerId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
    @Res({ passthrough: true }) res: Response,
  ) {
    const ns = parseNamespace(namespace);
    const id = parseWorkerId(workerId);
    await this.feeds.checkWorker(ns, id);
    const hungUp = new AbortController();
    res.on('close', () => hungUp.abort());
    return { runIds: await this.feeds.next(ns, id, this.config.pollTimeoutMs, hungUp.signal) };
  }

  @Post('workflows/:runId/steps/:stepId/begin')
  @HttpCode(200)
  async beginStep(
    @Param() params: Raw,
    @HttpBody(BODY_FIELDS.beginStep) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const { stepId, seq } = parseStepRef({ stepId: params.stepId, seq: body.seq });
    const begin = await this.protocol.beginStep(this.lease(params.namespace, params.runId, body), stepId, seq);
    if (begin.execute) return { shouldExecute: true, attempt: begin.attempt };
    const step = stepToHttp(begin.step);
    return { shouldExecute: false, ...step };
  }

  @Post('workflows/:runId/steps/:stepId/complete')
  @HttpCode(200)
  completeStep(
    @Param() params: Raw,
    @HttpBody(BODY_FIELDS.completeStep) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const { stepId, seq } = parseStepRef({ stepId: params.stepId, seq: body.seq });
    const lease = this.lease(params.namespace, params.runId, body);
    return this.protocol.completeStep(
      lease,
      stepId,
      seq,
      fromHttpPayload(body, 'output', this.config.payloadLimitBytes),
    );
  }

  @Post('workflows/:runId/steps/:stepId/fail')
  @HttpCode(200)
  async failStep(
    @Param() params: Raw,
    @HttpBody(BODY_FIELDS.failStep) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const { stepId, seq } = parseStepRef({ stepId: params.stepId, seq: body.seq });
    const lease = this.lease(params.namespace, params.runId, body);
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

  @Post('workflows/:runId/sleep')
  @HttpCode(200)
  async sleep(@Param() params: Raw, @HttpBody(BODY_FIELDS.sleep) body: Raw, @HttpQuery(QUERY_FIELDS.none) _query: Raw) {
    const { stepId, seq } = parseStepRef({ stepId: body.stepId, seq: body.seq });
    const lease = this.lease(params.namespace, params.runId, body);
    const durationMs = parseSleepMs(body.durationMs ?? body.duration, this.config);
    const lastStep = lastStepFromHttp(body.lastStep, this.config.payloadLimitBytes);
    const result = await this.protocol.sleep(lease, stepId, seq, durationMs, lastStep);
    return { suspended: result.suspended, wakeUpAt: result.wakeUpAt?.toISOString() ?? null };
  }

  @Post('workflows/:runId/complete')
  @HttpCode(200)
  async completeWorkflow(
    @Param() params: Raw,
    @HttpBody(BODY_FIELDS.completeWorkflow) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const lease = this.lease(params.namespace, params.runId, body);
    const limit = this.config.payloadLimitBytes;
    const output = fromHttpPayload(body, 'output', limit);
    await this.protocol.completeWorkflow(lease, output, lastStepFromHttp(body.lastStep, limit));
    return {};
  }

  @Post('workflows/:runId/fail')
  @HttpCode(200)
  async failWorkflow(
    @Param() params: Raw,
    @HttpBody(BODY_FIELDS.failWorkflow) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const lease = this.lease(params.namespace, params.runId, body);
    const outcome = await this.protocol.failWorkflow(lease, parseErrorInfo(body.error));
    return {
      status: outcome.status,
      willRetry: outcome.retry,
      retryAt: outcome.retry ? outcome.retryAt.toISOString() : null,
      attempt: outcome.attempt,
    };
  }
}
