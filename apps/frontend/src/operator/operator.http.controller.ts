import { Controller, Req } from '@nestjs/common';
import { Role } from '@baton/contracts';
import { Access } from '@baton/runtime';
import type { Request } from 'express';
import { InNamespace } from '../auth/namespaces-of';
import { historyToHttp, parseHistory, parseReset, parseRetry, parseTerminate } from '../edge/operator';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/workflows';
import { runToHttp } from '../edge/views';
import { actorOf } from './actor';
import { OperatorService } from './operator.service';

/** The operator actions over HTTP (roles as in OperatorGrpcController). */
@Controller()
@Access(Role.ADMIN, InNamespace.path)
export class OperatorHttpController {
  constructor(private readonly operator: OperatorService) {}

  @HttpOperation(ops.terminateRun)
  async terminate(@Req() req: Request, @HttpInput() { params, body }: HttpRequestInput) {
    const cmd = parseTerminate({ ...body, ...params }, actorOf(req));
    const { run, alreadyTerminated } = await this.operator.terminate(cmd);
    return { run: runToHttp(run), alreadyTerminated };
  }

  @HttpOperation(ops.retryRun)
  async retry(@Req() req: Request, @HttpInput() { params, body }: HttpRequestInput) {
    return { run: runToHttp(await this.operator.retry(parseRetry({ ...body, ...params }, actorOf(req)))) };
  }

  @HttpOperation(ops.resetRun)
  async reset(@Req() req: Request, @HttpInput() { params, body }: HttpRequestInput) {
    return { run: runToHttp(await this.operator.reset(parseReset({ ...body, ...params }, actorOf(req)))) };
  }

  @HttpOperation(ops.runHistory)
  @Access(Role.CLIENT, InNamespace.path)
  async history(@HttpInput() { params, query }: HttpRequestInput) {
    const page = await this.operator.history(parseHistory({ ...query, ...params }));
    return { events: page.items.map(historyToHttp), nextPageToken: page.nextPageToken };
  }
}
