import { Controller, Inject } from '@nestjs/common';
import { Role } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { Access, BATON_CONFIG } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/workers';
import { fromHttpPayload } from '../edge/payloads';
import { parseLease } from '../edge/requests';
import { stepToHttp } from '../edge/views';
import { parseStartChild } from './child-requests';
import { ChildrenService } from './children.service';

/** StartChild over HTTP/JSON: the same operation as gRPC WorkerService.StartChild. */
@Controller()
@Access(Role.WORKER, InNamespace.path)
export class ChildrenHttpController {
  constructor(
    private readonly children: ChildrenService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @HttpOperation(ops.startChild)
  async startChild(@HttpInput() { params, body }: HttpRequestInput) {
    const { workerId, leaseEpoch, leaseToken } = body;
    const lease = parseLease({ namespace: params.namespace, runId: params.runId, workerId, leaseEpoch, leaseToken });
    const input = fromHttpPayload(body, 'input', this.config.payloadLimitBytes);
    const started = await this.children.startChild(lease, parseStartChild({ ...body, stepId: params.stepId }, input));
    return { step: stepToHttp(started.step), suspended: started.suspended };
  }
}
