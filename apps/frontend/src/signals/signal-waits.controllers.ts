import { Controller, Inject } from '@nestjs/common';
import { Role, payloadMessage } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import type { SignalWait } from '@baton/persistence';
import type { WaitForSignalRequest, WaitForSignalResponse } from '@baton/proto';
import { Access, BATON_CONFIG } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { lastStepFromGrpc, lastStepFromHttp, toHttpPayload } from '../edge/payloads';
import { parseLease } from '../edge/requests';
import { Rpc } from '../edge/rpc';
import { parseWaitForSignal } from '../edge/signals';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/workers';
import { SignalsService } from './signals.service';

/** ctx.waitForSignal, a worker mutation like Sleep: carries the lease (invariants 1 and 13). */
@Controller()
@Access(Role.WORKER, InNamespace.lease)
export class SignalWaitsGrpcController {
  constructor(
    private readonly signals: SignalsService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @Rpc('worker', 'WaitForSignal')
  async waitForSignal(req: WaitForSignalRequest): Promise<WaitForSignalResponse> {
    const wait = parseWaitForSignal(req, this.config);
    const lease = parseLease(req.lease);
    const lastStep = lastStepFromGrpc(req.lastStep, this.config.payloadLimitBytes);
    const outcome: SignalWait = await this.signals.waitForSignal(lease, wait, lastStep);
    if (outcome.suspended) return { suspended: true, wakeUpAtMs: outcome.wakeUpAt?.getTime() };
    return { suspended: false, payload: payloadMessage(outcome.payload), timedOut: outcome.timedOut };
  }
}

/** The same over HTTP/JSON, beside the other worker routes. */
@Controller()
@Access(Role.WORKER, InNamespace.path)
export class SignalWaitsHttpController {
  constructor(
    private readonly signals: SignalsService,
    @Inject(BATON_CONFIG) private readonly config: BatonConfig,
  ) {}

  @HttpOperation(ops.waitForSignal)
  async waitForSignal(@HttpInput() { params, body }: HttpRequestInput) {
    const wait = parseWaitForSignal(body, this.config);
    const { workerId, leaseEpoch, leaseToken } = body;
    const lease = parseLease({ namespace: params.namespace, runId: params.runId, workerId, leaseEpoch, leaseToken });
    const lastStep = lastStepFromHttp(body.lastStep, this.config.payloadLimitBytes);
    const outcome = await this.signals.waitForSignal(lease, wait, lastStep);
    if (outcome.suspended) return { suspended: true, wakeUpAt: outcome.wakeUpAt?.toISOString() ?? null };
    const payload = toHttpPayload(payloadMessage(outcome.payload), 'payload');
    return { suspended: false, payload: null, ...payload, timedOut: outcome.timedOut };
  }
}
