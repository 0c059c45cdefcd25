import { Controller, Req } from '@nestjs/common';
import { LIMITS, Role, checkStepsPageToken } from '@baton/contracts';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/workflows';
import { fromHttpPayload } from '../edge/payloads';
import { parseList, parseNamespace, parsePageSize, parseRunId, parseStart, parseWaitMs } from '../edge/requests';
import { runToHttp, stepToHttp } from '../edge/views';
import { WorkflowsService } from './workflows.service';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { actorOf } from '../operator/actor';
import type { Request } from 'express';

@Controller()
@Access(Role.CLIENT, InNamespace.path)
export class WorkflowsHttpController {
  constructor(private readonly workflows: WorkflowsService) {}

  @HttpOperation(ops.startRun)
  async start(@HttpInput() { params, body }: HttpRequestInput) {
    const input = fromHttpPayload(body, 'input', this.workflows.payloadLimit);
    const { run, alreadyExists } = await this.workflows.start(parseStart(params.namespace, body, input));
    return { run: runToHttp(run), alreadyExists };
  }

  @HttpOperation(ops.listRuns)
  async list(@HttpInput() { params, query }: HttpRequestInput) {
    const page = await this.workflows.list(parseList(params.namespace, query));
    return { runs: page.items.map(runToHttp), nextPageToken: page.nextPageToken };
  }

  @HttpOperation(ops.getRun)
  async get(@HttpInput() { params }: HttpRequestInput) {
    return runToHttp(await this.workflows.get(parseNamespace(params.namespace), parseRunId(params.runId)));
  }

  @HttpOperation(ops.cancelRun)
  async cancel(@Req() req: Request, @HttpInput() { params }: HttpRequestInput) {
    const { run, alreadyCancelled } = await this.workflows.cancel(
      parseNamespace(params.namespace),
      parseRunId(params.runId),
      actorOf(req),
    );
    return { run: runToHttp(run), alreadyCancelled };
  }

  @HttpOperation(ops.deleteRun)
  async delete(@HttpInput() { params }: HttpRequestInput) {
    await this.workflows.delete(parseNamespace(params.namespace), parseRunId(params.runId));
  }

  @HttpOperation(ops.listSteps)
  async steps(@HttpInput() { params, query }: HttpRequestInput) {
    const page = await this.workflows.listSteps(
      parseNamespace(params.namespace),
      parseRunId(params.runId),
      parsePageSize(query.pageSize, LIMITS.stepsPage),
      checkStepsPageToken(query.pageToken),
    );
    return { steps: page.items.map(stepToHttp), nextPageToken: page.nextPageToken };
  }

  @HttpOperation(ops.getResult)
  async result(@HttpInput() { params, query }: HttpRequestInput) {
    const { run, done } = await this.workflows.waitResult(
      parseNamespace(params.namespace),
      parseRunId(params.runId),
      parseWaitMs(query.waitMs ?? query.wait),
    );
    return { run: runToHttp(run), done };
  }
}
