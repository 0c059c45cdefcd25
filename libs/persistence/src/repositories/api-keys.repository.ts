import { BatonError, uuidv7 } from '@baton/contracts';
import type { ApiKeyView, Role } from '@baton/contracts';
import type { Row, Sql } from '../sql';

export interface CreateApiKeyCommand {
  name: string;
  secretHash: Buffer;
  prefix: string;
  namespaces: string[];
  roles: Role[];
}

const KEY_COLUMNS = `id, name, prefix, namespaces, roles, created_at, revoked_at`;

function toApiKeyView(row: Row): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    namespaces: row.namespaces,
    roles: row.roles as Role[],
    createdAt: row.created_at,
    revokedAt: row.revoked_at ?? null,
  };
}

export class ApiKeysRepository {
  constructor(private readonly sql: Sql) {}

  async create(cmd: CreateApiKeyCommand): Promise<ApiKeyView> {
    const [row] = await this.sql.rows(
      `INSERT INTO api_keys (id, name, secret_hash, prefix, namespaces, roles)
       VALUES ($1, $2, $3, $4, $5::text[], $6::text[]) RETURNING ${KEY_COLUMNS}`,
      [uuidv7(), cmd.name, cmd.secretHash, cmd.prefix, cmd.namespaces, cmd.roles],
    );
    return toApiKeyView(row!);
  }

  /** The key whose secret hashes to `secretHash`, unless it was revoked. */
  async findActive(secretHash: Buffer): Promise<ApiKeyView | null> {
    const [row] = await this.sql.rows(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL`,
      [secretHash],
    );
    return row ? toApiKeyView(row) : null;
  }

  async get(id: string): Promise<ApiKeyView | null> {
    const [row] = await this.sql.rows(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = $1`, [id]);
    return row ? toApiKeyView(row) : null;
  }

  async list(includeRevoked: boolean): Promise<ApiKeyView[]> {
    const rows = await this.sql.rows(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE $1 OR revoked_at IS NULL ORDER BY created_at, id`,
      [includeRevoked],
    );
    return rows.map(toApiKeyView);
  }

  /** Revokes once: a second revocation keeps the first time. */
  async revoke(id: string): Promise<ApiKeyView> {
    const [row] = await this.sql.rows(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${KEY_COLUMNS}`,
      [id],
    );
    if (!row) throw BatonError.notFound(`API key ${id}`);
    return toApiKeyView(row);
  }
}
