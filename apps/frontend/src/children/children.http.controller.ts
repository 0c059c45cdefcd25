import { Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Role } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { Access, BATON_CONFIG } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { HttpBody, HttpQuery, QUERY_FIELDS } from '../edge/http-input';
import { fromHttpPayload } from '../edge/payloads';
import { parseLease } from '../edge/requests';
import { stepToHttp } from '../edge/views';
import { START_CHILD_BODY_FIELDS, parseStartChild } from './child-requests';
import { ChildrenService } from './children.service';

type Raw = Record<string, unknown>;

/** StartChild over HTTP/JSON: the same operation as gRPC WorkerService.StartChild. */
@Controller('v1/namespaces/:namespace')
@Access(Role.WORKER, InNamespace.path)
export class ChildrenHttpController {
  constructor(
    private readonly children: ChildrenService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @Post('workflows/:runId/children/:stepId')
  @HttpCode(200)
  async startChild(
    @Param() params: Raw,
    @HttpBody(START_CHILD_BODY_FIELDS) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const { workerId, leaseEpoch, leaseToken } = body;
    const lease = parseLease({ namespace: params.namespace, runId: params.runId, workerId, leaseEpoch, leaseToken });
    const input = fromHttpPayload(body, 'input', this.config.payloadLimitBytes);
    const started = await this.children.startChild(lease, parseStartChild({ ...body, stepId: params.stepId }, input));
    return { step: stepToHttp(started.step), suspended: started.suspended };
  }
}
