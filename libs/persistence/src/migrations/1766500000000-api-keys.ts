import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * API keys (DESIGN §5 invariant 13). Only a SHA-256 of each secret is kept:
 * secrets are 256 random bits, so a fast hash cannot be searched back and a
 * lookup stays one index probe per new key (then cached by the frontends).
 */
export class ApiKeys1766500000000 implements MigrationInterface {
  name = 'ApiKeys1766500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        secret_hash bytea NOT NULL UNIQUE,
        prefix text NOT NULL,
        namespaces text[] NOT NULL,
        roles text[] NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE IF EXISTS api_keys`);
  }
}
