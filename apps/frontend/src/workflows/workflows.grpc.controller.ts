import { Controller } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import { LIMITS, checkStepsPageToken } from '@baton/contracts';
import { fromGrpcPayload } from '../edge/payloads';
import { parseList, parseNamespace, parsePageSize, parseRunId, parseStart, parseWaitMs } from '../edge/requests';
import { runToGrpc, stepToGrpc } from '../edge/views';
import { WorkflowsService } from './workflows.service';

type Raw = Record<string, any>;

@Controller()
export class WorkflowsGrpcController {
  constructor(private readonly workflows: WorkflowsService) {}

  @GrpcMethod('WorkflowService', 'Start')
  async start(req: Raw) {
    const input = fromGrpcPayload(req.input, 'input', this.workflows.payloadLimit);
    const { run, alreadyExists } = await this.workflows.start(parseStart(req.namespace, req, input));
    return { run: runToGrpc(run), alreadyExists };
  }

  @GrpcMethod('WorkflowService', 'Get')
  async get(req: Raw) {
    return runToGrpc(await this.workflows.get(parseNamespace(req.namespace), parseRunId(req.runId)));
  }

  @GrpcMethod('WorkflowService', 'List')
  async list(req: Raw) {
    const page = await this.workflows.list(parseList(req.namespace, req));
    return { runs: page.items.map(runToGrpc), nextPageToken: page.nextPageToken ?? '' };
  }

  @GrpcMethod('WorkflowService', 'Cancel')
  async cancel(req: Raw) {
    const { run, alreadyCancelled } = await this.workflows.cancel(parseNamespace(req.namespace), parseRunId(req.runId));
    return { run: runToGrpc(run), alreadyCancelled };
  }

  @GrpcMethod('WorkflowService', 'Delete')
  async delete(req: Raw) {
    await this.workflows.delete(parseNamespace(req.namespace), parseRunId(req.runId));
    return {};
  }

  @GrpcMethod('WorkflowService', 'ListSteps')
  async listSteps(req: Raw) {
    const page = await this.workflows.listSteps(
      parseNamespace(req.namespace),
      parseRunId(req.runId),
      parsePageSize(req.pageSize, LIMITS.stepsPage),
      checkStepsPageToken(req.pageToken),
    );
    return { steps: page.items.map(stepToGrpc), nextPageToken: page.nextPageToken ?? '' };
  }

  @GrpcMethod('WorkflowService', 'WaitResult')
  async waitResult(req: Raw) {
    const { run, done } = await this.workflows.waitResult(
      parseNamespace(req.namespace),
      parseRunId(req.runId),
      parseWaitMs(req.waitMs),
    );
    return { run: runToGrpc(run), done };
  }
}
