import { Controller } from '@nestjs/common';
import { Role } from '@baton/contracts';
import type { SignalRequest, SignalResponse } from '@baton/proto';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { fromGrpcPayload, fromHttpPayload } from '../edge/payloads';
import { Rpc } from '../edge/rpc';
import { parseSignal } from '../edge/signals';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/workflows';
import { SignalsService } from './signals.service';

@Controller()
@Access(Role.CLIENT, InNamespace.field)
export class SignalsGrpcController {
  constructor(private readonly signals: SignalsService) {}

  @Rpc('workflow', 'Signal')
  async signal(req: SignalRequest): Promise<SignalResponse> {
    const payload = fromGrpcPayload(req.payload, 'payload', this.signals.payloadLimit);
    return this.signals.send(parseSignal(req.namespace, req, payload));
  }
}

/** Signals over HTTP/JSON: to a run by its id, or to the live run holding an external id. */
@Controller()
@Access(Role.CLIENT, InNamespace.path)
export class SignalsHttpController {
  constructor(private readonly signals: SignalsService) {}

  @HttpOperation(ops.signalRun)
  signal(@HttpInput() { params, body }: HttpRequestInput) {
    const payload = fromHttpPayload(body, 'payload', this.signals.payloadLimit);
    const { runId } = params;
    return this.signals.send(
      parseSignal(params.namespace, { runId, name: body.name, requestId: body.requestId }, payload),
    );
  }

  @HttpOperation(ops.signalByExternal)
  signalByExternalId(@HttpInput() { params, body }: HttpRequestInput) {
    const payload = fromHttpPayload(body, 'payload', this.signals.payloadLimit);
    return this.signals.send(
      parseSignal(
        params.namespace,
        { externalId: body.externalId, name: body.name, requestId: body.requestId },
        payload,
        'externalId',
      ),
    );
  }
}
