import { Controller, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { Role } from '@baton/contracts';
import { Access } from '@baton/runtime';
import type { Request } from 'express';
import { InNamespace } from '../auth/namespaces-of';
import { HttpBody, HttpQuery, QUERY_FIELDS } from '../edge/http-input';
import {
  HISTORY_QUERY_FIELDS,
  OPERATOR_BODY_FIELDS,
  historyToHttp,
  parseHistory,
  parseReset,
  parseRetry,
  parseTerminate,
} from '../edge/operator';
import { runToHttp } from '../edge/views';
import { actorOf } from './actor';
import { OperatorService } from './operator.service';

type Raw = Record<string, unknown>;

/** The operator actions over HTTP (roles as in OperatorGrpcController). */
@Controller('v1/namespaces/:namespace/workflows/:runId')
@Access(Role.ADMIN, InNamespace.path)
export class OperatorHttpController {
  constructor(private readonly operator: OperatorService) {}

  @Post('terminate')
  @HttpCode(200)
  async terminate(
    @Req() req: Request,
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpBody(OPERATOR_BODY_FIELDS.terminate) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const cmd = parseTerminate({ ...body, namespace, runId }, actorOf(req));
    const { run, alreadyTerminated } = await this.operator.terminate(cmd);
    return { run: runToHttp(run), alreadyTerminated };
  }

  @Post('retry')
  @HttpCode(200)
  async retry(
    @Req() req: Request,
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpBody(OPERATOR_BODY_FIELDS.retry) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return { run: runToHttp(await this.operator.retry(parseRetry({ ...body, namespace, runId }, actorOf(req)))) };
  }

  @Post('reset')
  @HttpCode(200)
  async reset(
    @Req() req: Request,
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpBody(OPERATOR_BODY_FIELDS.reset) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return { run: runToHttp(await this.operator.reset(parseReset({ ...body, namespace, runId }, actorOf(req)))) };
  }

  @Get('history')
  @Access(Role.CLIENT, InNamespace.path)
  async history(
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpQuery(HISTORY_QUERY_FIELDS) query: Raw,
  ) {
    const page = await this.operator.history(parseHistory({ ...query, namespace, runId }));
    return { events: page.items.map(historyToHttp), nextPageToken: page.nextPageToken };
  }
}
