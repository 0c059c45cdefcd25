import { Controller } from '@nestjs/common';
import type { Metadata } from '@grpc/grpc-js';
import { Role } from '@baton/contracts';
import type {
  ListHistoryRequest,
  ListHistoryResponse,
  ResetRequest,
  ResetResponse,
  RetryRequest,
  RetryResponse,
  TerminateRequest,
  TerminateResponse,
} from '@baton/proto';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { historyToGrpc, parseHistory, parseReset, parseRetry, parseTerminate } from '../edge/operator';
import { Rpc } from '../edge/rpc';
import { runToGrpc } from '../edge/views';
import { actorOf } from './actor';
import { OperatorService } from './operator.service';

/**
 * WorkflowService's operator actions. They need the admin role: unlike a
 * cancel, each overrides what the run's own code and policy decided
 * (terminate) or re-runs side effects the run had finished with or given up
 * on (retry, reset deletes recorded steps). Reading the history is a client's.
 */
@Controller()
@Access(Role.ADMIN, InNamespace.field)
export class OperatorGrpcController {
  constructor(private readonly operator: OperatorService) {}

  @Rpc('workflow', 'Terminate')
  async terminate(req: TerminateRequest, metadata: Metadata): Promise<TerminateResponse> {
    const { run, alreadyTerminated } = await this.operator.terminate(parseTerminate(req, actorOf(metadata)));
    return { run: runToGrpc(run), alreadyTerminated };
  }

  @Rpc('workflow', 'Retry')
  async retry(req: RetryRequest, metadata: Metadata): Promise<RetryResponse> {
    return { run: runToGrpc(await this.operator.retry(parseRetry(req, actorOf(metadata)))) };
  }

  @Rpc('workflow', 'Reset')
  async reset(req: ResetRequest, metadata: Metadata): Promise<ResetResponse> {
    return { run: runToGrpc(await this.operator.reset(parseReset(req, actorOf(metadata)))) };
  }

  @Rpc('workflow', 'ListHistory')
  @Access(Role.CLIENT, InNamespace.field)
  async listHistory(req: ListHistoryRequest): Promise<ListHistoryResponse> {
    const page = await this.operator.history(parseHistory(req));
    return { events: page.items.map(historyToGrpc), nextPageToken: page.nextPageToken ?? '' };
  }
}
