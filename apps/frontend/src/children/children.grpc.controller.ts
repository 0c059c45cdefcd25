import { Controller, Inject } from '@nestjs/common';
import { Role, stepMessage } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import type { StartChildRequest, StartChildResponse } from '@baton/proto';
import { Access, BATON_CONFIG } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { fromGrpcPayload } from '../edge/payloads';
import { parseLease } from '../edge/requests';
import { Rpc } from '../edge/rpc';
import { parseStartChild } from './child-requests';
import { ChildrenService } from './children.service';

/** WorkerService.StartChild (ctx.child), a worker mutation under the parent's lease. */
@Controller()
@Access(Role.WORKER, InNamespace.lease)
export class ChildrenGrpcController {
  constructor(
    private readonly children: ChildrenService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @Rpc('worker', 'StartChild')
  async startChild(req: StartChildRequest): Promise<StartChildResponse> {
    const lease = parseLease(req.lease);
    const input = fromGrpcPayload(req.input, 'input', this.config.payloadLimitBytes);
    const started = await this.children.startChild(lease, parseStartChild(req, input));
    return { step: stepMessage(started.step), suspended: started.suspended };
  }
}
