import { Controller, Req } from '@nestjs/common';
import type { Metadata } from '@grpc/grpc-js';
import { Role, checkUuid } from '@baton/contracts';
import type { ApiKeyView } from '@baton/contracts';
import type {
  ApiKey,
  CreateApiKeyRequest,
  CreateApiKeyResponse,
  ListApiKeysRequest,
  ListApiKeysResponse,
  RevokeApiKeyRequest,
} from '@baton/proto';
import { Access } from '@baton/runtime';
import type { Request } from 'express';
import { parseQueryBoolean } from '../edge/http-input';
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/admin';
import { Rpc } from '../edge/rpc';
import { parseNewApiKey } from './api-key-requests';
import { ApiKeys } from './api-keys.service';
import { InNamespace } from './namespaces-of';
import { principalOf } from './principal';

function keyToGrpc(key: ApiKeyView): ApiKey {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    namespaces: key.namespaces,
    roles: key.roles,
    createdAtMs: key.createdAt.getTime(),
    revokedAtMs: key.revokedAt?.getTime(),
  };
}

function keyToHttp(key: ApiKeyView) {
  return { ...key, createdAt: key.createdAt.toISOString(), revokedAt: key.revokedAt?.toISOString() ?? null };
}

/** AdminService's API keys. Each caller manages the keys within its own namespaces. */
@Controller()
@Access(Role.ADMIN, InNamespace.none)
export class ApiKeysGrpcController {
  constructor(private readonly keys: ApiKeys) {}

  @Rpc('admin', 'CreateApiKey')
  async create(req: CreateApiKeyRequest, metadata: Metadata): Promise<CreateApiKeyResponse> {
    const { key, secret } = await this.keys.create(principalOf(metadata), parseNewApiKey(req));
    return { key: keyToGrpc(key), secret };
  }

  @Rpc('admin', 'ListApiKeys')
  async list(req: ListApiKeysRequest, metadata: Metadata): Promise<ListApiKeysResponse> {
    return { keys: (await this.keys.list(principalOf(metadata), !!req.includeRevoked)).map(keyToGrpc) };
  }

  @Rpc('admin', 'RevokeApiKey')
  async revoke(req: RevokeApiKeyRequest, metadata: Metadata): Promise<ApiKey> {
    return keyToGrpc(await this.keys.revoke(principalOf(metadata), checkUuid(req.keyId, 'keyId')));
  }
}

@Controller()
@Access(Role.ADMIN, InNamespace.none)
export class ApiKeysHttpController {
  constructor(private readonly keys: ApiKeys) {}

  @HttpOperation(ops.createApiKey)
  async create(@Req() req: Request, @HttpInput() { body }: HttpRequestInput) {
    const { key, secret } = await this.keys.create(principalOf(req), parseNewApiKey(body));
    return { key: keyToHttp(key), secret };
  }

  @HttpOperation(ops.listApiKeys)
  async list(@Req() req: Request, @HttpInput() { query }: HttpRequestInput) {
    const keys = await this.keys.list(principalOf(req), parseQueryBoolean(query.includeRevoked, 'includeRevoked'));
    return { keys: keys.map(keyToHttp) };
  }

  @HttpOperation(ops.revokeApiKey)
  async revoke(@Req() req: Request, @HttpInput() { params }: HttpRequestInput) {
    return keyToHttp(await this.keys.revoke(principalOf(req), checkUuid(params.keyId, 'keyId')));
  }
}
