import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { Role } from '@baton/contracts';
import type { SignalRequest, SignalResponse } from '@baton/proto';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';
import { HttpBody, HttpQuery, QUERY_FIELDS } from '../edge/http-input';
import { fromGrpcPayload, fromHttpPayload } from '../edge/payloads';
import { Rpc } from '../edge/rpc';
import { SIGNAL_BODY_FIELDS, parseSignal } from '../edge/signals';
import { SignalsService } from './signals.service';

type Raw = Record<string, unknown>;

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
@Controller('v1/namespaces/:namespace')
@Access(Role.CLIENT, InNamespace.path)
export class SignalsHttpController {
  constructor(private readonly signals: SignalsService) {}

  @Post('workflows/:runId/signals')
  @HttpCode(200)
  signal(
    @Param('namespace') namespace: string,
    @Param('runId') runId: string,
    @HttpBody(SIGNAL_BODY_FIELDS.signal) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const payload = fromHttpPayload(body, 'payload', this.signals.payloadLimit);
    return this.signals.send(parseSignal(namespace, { runId, name: body.name }, payload));
  }

  @Post('signals')
  @HttpCode(200)
  signalByExternalId(
    @Param('namespace') namespace: string,
    @HttpBody(SIGNAL_BODY_FIELDS.signalByExternalId) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const payload = fromHttpPayload(body, 'payload', this.signals.payloadLimit);
    return this.signals.send(
      parseSignal(namespace, { externalId: body.externalId, name: body.name }, payload, 'externalId'),
    );
  }
}
