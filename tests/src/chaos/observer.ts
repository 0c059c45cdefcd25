import { Pool } from 'pg';

/** Microseconds since the epoch as text: exact, comparable, and immune to the session's TimeZone. */
export const micros = (column: string) => `(extract(epoch from ${column}) * 1000000)::bigint::text`;

/**
 * The chaos runner's own window on the chaos database, for monitoring and for
 * the final verdict. Queries fail during a database fault; callers decide
 * whether to skip a beat (monitors) or retry (the verdict).
 */
export class Observer {
  private readonly pool: Pool;

  constructor(url: string) {
    this.pool = new Pool({ connectionString: url, max: 3, connectionTimeoutMillis: 3_000, query_timeout: 30_000 });
    // A terminated session (database outage) surfaces here; the next query gets a fresh connection.
    this.pool.on('error', () => undefined);
  }

  async rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(sql, params)).rows as T[];
  }

  /** Retries through a fault until `deadlineMs` from now (for the final checks, which must not give up early). */
  async rowsPatiently<T = Record<string, unknown>>(
    sql: string,
    params: unknown[] = [],
    deadlineMs = 60_000,
  ): Promise<T[]> {
    const giveUp = Date.now() + deadlineMs;
    for (;;) {
      try {
        return await this.rows<T>(sql, params);
      } catch (err) {
        if (Date.now() > giveUp) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  /** Whether a column exists (the schema is changing under issue 7: `recoveries` may or may not be there). */
  async hasColumn(table: string, column: string): Promise<boolean> {
    const found = await this.rowsPatiently(
      `SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2`,
      [table, column],
    );
    return found.length > 0;
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
