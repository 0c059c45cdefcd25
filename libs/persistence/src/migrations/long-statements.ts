import type { QueryRunner } from 'typeorm';

/** The longest wait Node's timers take (about 24.8 days): in effect, no client-side limit. */
const NO_CLIENT_TIMEOUT_MS = 2 ** 31 - 1;

/** What QueryRunner.connect() resolves to for PostgreSQL: a pg client, whose query takes a per-call timeout. */
interface PgClient {
  query(config: { text: string; query_timeout: number }): Promise<unknown>;
}

/**
 * Runs statements that read a whole live table once (an index built
 * CONCURRENTLY, a constraint validated) exempt from the session's statement
 * and query timeouts: every other Baton statement is short, these are not.
 * Outside a transaction (the migration sets `transaction = false`).
 */
export async function withoutTimeouts(q: QueryRunner, statements: readonly string[]): Promise<void> {
  const client = (await q.connect()) as PgClient;
  await q.query(`SET statement_timeout = 0`);
  try {
    for (const text of statements) await client.query({ text, query_timeout: NO_CLIENT_TIMEOUT_MS });
  } finally {
    // Back to the value the connection was opened with.
    await q.query(`RESET statement_timeout`);
  }
}

/**
 * CREATE [UNIQUE] INDEX CONCURRENTLY `name` `definition` (ON table (...)
 * WHERE ...), without blocking the table's writers. A build that failed
 * half-way leaves an invalid index: it is dropped and built again.
 */
export async function buildIndexConcurrently(
  q: QueryRunner,
  name: string,
  definition: string,
  { unique = false }: { unique?: boolean } = {},
): Promise<void> {
  const [left] = await q.query(`SELECT NOT indisvalid AS invalid FROM pg_index WHERE indexrelid = to_regclass($1)`, [
    name,
  ]);
  if (left?.invalid) await q.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  await withoutTimeouts(q, [`CREATE ${unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY IF NOT EXISTS ${name} ${definition}`]);
}
