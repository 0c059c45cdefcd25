import { Controller, Logger } from '@nestjs/common';
import type { Metadata } from '@grpc/grpc-js';
import { LIMITS, Role, checkStepsPageToken, stepMessage } from '@baton/contracts';
import type { CreateRunCommand } from '@baton/persistence';
import type {
  CallError,
  CancelRequest,
  CancelResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  ListRequest,
  ListResponse,
  ListStepsRequest,
  ListStepsResponse,
  StartManyRequest,
  StartManyResponse,
  StartOutcome,
  StartRequest,
  StartResponse,
  WaitResultRequest,
  WaitResultResponse,
  WorkflowRun,
} from '@baton/proto';
import { fromGrpcPayload } from '../edge/payloads';
import {
  parseList,
  parseNamespace,
  parsePageSize,
  parseRunId,
  parseStart,
  parseStartMany,
  parseWaitMs,
} from '../edge/requests';
import { Rpc, callErrorOf } from '../edge/rpc';
import { runToGrpc } from '../edge/views';
import { WorkflowsService } from './workflows.service';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { actorOf } from '../operator/actor';

@Controller()
@Access(Role.CLIENT, InNamespace.field)
export class WorkflowsGrpcController {
  private readonly logger = new Logger(WorkflowsGrpcController.name);

  constructor(private readonly workflows: WorkflowsService) {}

  @Rpc('workflow', 'Start')
  async start(req: StartRequest): Promise<StartResponse> {
    const input = fromGrpcPayload(req.input, 'input', this.workflows.payloadLimit);
    const { run, alreadyExists } = await this.workflows.start(parseStart(req.namespace, req, input));
    return { run: runToGrpc(run), alreadyExists };
  }

  /** Each item checked as a lone Start; the valid ones are inserted together, each with its own outcome. */
  @Rpc('workflow', 'StartMany')
  @Access(Role.CLIENT, InNamespace.starts)
  async startMany(req: StartManyRequest): Promise<StartManyResponse> {
    // Decoded by gRPC as StartRequest messages; each is checked like a lone one.
    const parsed = (parseStartMany(req.starts) as StartRequest[]).map(
      (item): { cmd: CreateRunCommand } | { error: CallError } => {
        try {
          const input = fromGrpcPayload(item.input, 'input', this.workflows.payloadLimit);
          return { cmd: parseStart(item.namespace, item, input) };
        } catch (err) {
          return { error: callErrorOf(err, this.logger) };
        }
      },
    );
    const valid = parsed.flatMap((p) => ('cmd' in p ? [p.cmd] : []));
    const started = this.workflows.startMany(valid);
    let next = 0;
    const outcomes = await Promise.all(
      parsed.map(async (p): Promise<StartOutcome> => {
        if ('error' in p) return { error: p.error };
        try {
          const { run, alreadyExists } = await started[next++]!;
          return { started: { run: runToGrpc(run), alreadyExists } };
        } catch (err) {
          return { error: callErrorOf(err, this.logger) };
        }
      }),
    );
    return { outcomes };
  }

  @Rpc('workflow', 'Get')
  async get(req: GetRequest): Promise<WorkflowRun> {
    return runToGrpc(await this.workflows.get(parseNamespace(req.namespace), parseRunId(req.runId)));
  }

  @Rpc('workflow', 'List')
  async list(req: ListRequest): Promise<ListResponse> {
    const page = await this.workflows.list(parseList(req.namespace, req));
    return { runs: page.items.map(runToGrpc), nextPageToken: page.nextPageToken ?? '' };
  }

  @Rpc('workflow', 'Cancel')
  async cancel(req: CancelRequest, metadata: Metadata): Promise<CancelResponse> {
    const { run, alreadyCancelled } = await this.workflows.cancel(
      parseNamespace(req.namespace),
      parseRunId(req.runId),
      actorOf(metadata),
    );
    return { run: runToGrpc(run), alreadyCancelled };
  }

  @Rpc('workflow', 'Delete')
  async delete(req: DeleteRequest): Promise<DeleteResponse> {
    await this.workflows.delete(parseNamespace(req.namespace), parseRunId(req.runId));
    return {};
  }

  @Rpc('workflow', 'ListSteps')
  async listSteps(req: ListStepsRequest): Promise<ListStepsResponse> {
    const page = await this.workflows.listSteps(
      parseNamespace(req.namespace),
      parseRunId(req.runId),
      parsePageSize(req.pageSize, LIMITS.stepsPage),
      checkStepsPageToken(req.pageToken),
    );
    return { steps: page.items.map(stepMessage), nextPageToken: page.nextPageToken ?? '' };
  }

  @Rpc('workflow', 'WaitResult')
  async waitResult(req: WaitResultRequest): Promise<WaitResultResponse> {
    const { run, done } = await this.workflows.waitResult(
      parseNamespace(req.namespace),
      parseRunId(req.runId),
      parseWaitMs(req.waitMs),
    );
    return { run: runToGrpc(run), done };
  }
}
