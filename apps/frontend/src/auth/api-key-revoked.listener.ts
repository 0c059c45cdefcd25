import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { Patterns } from '@baton/contracts';
import type { ApiKeyRevokedEvent } from '@baton/contracts';
import { ApiKeys } from './api-keys.service';

/** Every frontend hears every revocation (no queue group): none may keep trusting the key from its cache. */
@Controller()
export class ApiKeyRevokedListener {
  constructor(private readonly keys: ApiKeys) {}

  @EventPattern<Record<string, ApiKeyRevokedEvent>>(Patterns.apiKeyRevoked)
  revoked(@Payload() event: ApiKeyRevokedEvent): void {
    this.keys.forget(event.keyId);
  }
}
