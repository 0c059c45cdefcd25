import { BatonError } from '@baton/contracts';
import type { RateLimitScope, RateLimitView } from '@baton/contracts';
import type { Row, Sql } from '../sql';

/** What a rate limit applies to: a queue, or a workflow type (on any queue), of one namespace. */
export interface RateLimitTarget {
  namespace: string;
  scope: RateLimitScope;
  name: string;
}

export interface SetRateLimitCommand extends RateLimitTarget {
  limit: number;
  periodMs: number;
}

const COLUMNS = `namespace, scope, name, max_claims, period_ms, created_at, updated_at`;

function toRateLimitView(row: Row): RateLimitView {
  return {
    namespace: row.namespace,
    scope: row.scope as RateLimitScope,
    name: row.name,
    limit: row.max_claims,
    periodMs: Number(row.period_ms),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

const describe = (t: RateLimitTarget) => `rate limit of ${t.scope === 'queue' ? 'queue' : 'workflow type'} ${t.name}`;

/**
 * Rate limits as the admin API sets them. The claim statement enforces them
 * (transitions/flow-control.ts), locking the same rows, so a change applies
 * from the next claim on. Replacing a limit keeps the times of the claims
 * already made: they still count against the new limit within its period.
 */
export class RateLimitsRepository {
  constructor(private readonly sql: Sql) {}

  async set(cmd: SetRateLimitCommand): Promise<RateLimitView> {
    const [row] = await this.sql.rows(
      `INSERT INTO rate_limits (namespace, scope, name, max_claims, period_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (namespace, scope, name)
       DO UPDATE SET max_claims = EXCLUDED.max_claims, period_ms = EXCLUDED.period_ms, updated_at = now()
       RETURNING ${COLUMNS}`,
      [cmd.namespace, cmd.scope, cmd.name, cmd.limit, cmd.periodMs],
    );
    return toRateLimitView(row!);
  }

  /** The namespace's rate limits: queues first, then workflow types, each by name. */
  async list(namespace: string): Promise<RateLimitView[]> {
    const rows = await this.sql.rows(`SELECT ${COLUMNS} FROM rate_limits WHERE namespace = $1 ORDER BY scope, name`, [
      namespace,
    ]);
    return rows.map(toRateLimitView);
  }

  /** NOT_FOUND when the queue or type has no rate limit. */
  async delete(target: RateLimitTarget): Promise<void> {
    const rows = await this.sql.rows(
      `DELETE FROM rate_limits WHERE namespace = $1 AND scope = $2 AND name = $3 RETURNING name`,
      [target.namespace, target.scope, target.name],
    );
    if (rows.length === 0) throw BatonError.notFound(describe(target));
  }
}
