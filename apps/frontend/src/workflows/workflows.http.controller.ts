import { Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { LIMITS, Role, checkStepsPageToken } from '@baton/contracts';
import { BODY_FIELDS, HttpBody, HttpQuery, QUERY_FIELDS } from '../edge/http-input';
import { fromHttpPayload } from '../edge/payloads';
import { parseList, parseNamespace, parsePageSize, parseRunId, parseStart, parseWaitMs } from '../edge/requests';
import { runToHttp, stepToHttp } from '../edge/views';
import { WorkflowsService } from './workflows.service';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { actorOf } from '../operator/actor';
import type { Request } from 'express';

type Raw = Record<string, unknown>;

@Controller('v1/namespaces/:namespace/workflows')
@Access(Role.CLIENT, InNamespace.path)
export class WorkflowsHttpController {
  constructor(private readonly workflows: WorkflowsService) {}

  @Post()
  @HttpCode(201)
  async start(
    @Param('namespace') namespace: string,
    @HttpBody(BODY_FIELDS.start) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const input = fromHttpPayload(body, 'input', this.workflows.payloadLimit);
    const { run, alreadyExists } = await this.workflows.start(parseStart(namespace, body, input));
    return { run: runToHttp(run), alreadyExists };
  }

  @Get()
  async list(@Param('namespace') namespace: string, @HttpQuery(QUERY_FIELDS.listRuns) query: Raw) {
    const page = await this.workflows.list(parseList(namespace, query));
    return { runs: page.items.map(runToHttp), nextPageToken: page.nextPageToken };
  }

  @Get(':runId')
  async get(
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    return runToHttp(await this.workflows.get(parseNamespace(namespace), parseRunId(runId)));
  }

  @Post(':runId/cancel')
  @HttpCode(200)
  async cancel(
    @Req() req: Request,
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const { run, alreadyCancelled } = await this.workflows.cancel(
      parseNamespace(namespace),
      parseRunId(runId),
      actorOf(req),
    );
    return { run: runToHttp(run), alreadyCancelled };
  }

  @Delete(':runId')
  @HttpCode(204)
  async delete(
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    await this.workflows.delete(parseNamespace(namespace), parseRunId(runId));
  }

  @Get(':runId/steps')
  async steps(
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpQuery(QUERY_FIELDS.listSteps) query: Raw,
  ) {
    const page = await this.workflows.listSteps(
      parseNamespace(namespace),
      parseRunId(runId),
      parsePageSize(query.pageSize, LIMITS.stepsPage),
      checkStepsPageToken(query.pageToken),
    );
    return { steps: page.items.map(stepToHttp), nextPageToken: page.nextPageToken };
  }

  @Get(':runId/result')
  async result(
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpQuery(QUERY_FIELDS.waitResult) query: Raw,
  ) {
    const { run, done } = await this.workflows.waitResult(
      parseNamespace(namespace),
      parseRunId(runId),
      parseWaitMs(query.waitMs ?? query.wait),
    );
    return { run: runToHttp(run), done };
  }
}
