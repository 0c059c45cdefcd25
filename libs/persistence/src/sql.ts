import { createHash } from 'node:crypto';
import { BatonError, ErrorCode } from '@baton/contracts';
import type { DataSource, QueryRunner } from 'typeorm';

export type Row = Record<string, any>;

/** What a repository needs to run statements, inside or outside a transaction. */
export interface Querier {
  rows<T = Row>(text: string, params?: unknown[]): Promise<T[]>;
}

/** A statement parameter pg computes as it sends the statement (pg calls `toPostgres` then). */
export interface LateParam {
  toPostgres(): string;
}

/**
 * A parameter: the milliseconds from `since` (epoch ms, this process's
 * clock) to the moment the statement is sent, within 0..`max`. pg turns
 * parameters into text as it sends the statement, after any wait for a
 * connection, so a span counted this way includes that wait.
 */
export function msSince(since: number, max: number): LateParam {
  return { toPostgres: () => String(Math.min(Math.max(0, Date.now() - since), max)) };
}

/** SQLSTATE classes meaning "the database is not there right now", not "this statement is wrong". */
const UNAVAILABLE_SQLSTATES = new Set([
  '53300',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  // query_canceled: statement_timeout (data-source.ts), i.e. a database too slow to answer.
  '57014',
]);

/** pg's words for "the database did not answer in time": a pooled connection, a new one, a statement. */
const TIMED_OUT =
  /Query read timeout|timeout exceeded when trying to connect|Connection terminated due to connection timeout/;

/** ...and for a connection that is gone. */
const LOST =
  /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|Client was closed and is not queryable|Client has encountered a connection error|is not currently accepting connections/;

const messageOf = (err: unknown) => String((err as { message?: unknown } | undefined)?.message ?? '');

/** A statement pg gave up on (query_timeout): its connection still waits for the reply. */
const queryTimedOut = (err: unknown) => /Query read timeout/.test(messageOf(err));

/**
 * Database outages (refused, lost, or silent past a timeout) become
 * UNAVAILABLE (clients and the SDK retry those) rather than INTERNAL;
 * everything else passes through unchanged.
 */
function asUnavailable(err: unknown): unknown {
  if (err instanceof BatonError) return err;
  const e = err as { code?: string; driverError?: { code?: string }; message?: string };
  const code = e?.code ?? e?.driverError?.code;
  const message = messageOf(err);
  if ((code && UNAVAILABLE_SQLSTATES.has(code)) || TIMED_OUT.test(message) || LOST.test(message)) {
    return new BatonError(ErrorCode.UNAVAILABLE, `database unavailable: ${message || code}`);
  }
  return err;
}

/** The database was out (refused, lost, too slow): the statement may be tried again later, not item by item now. */
export function isDatabaseOutage(err: unknown): boolean {
  return err instanceof BatonError && err.code === ErrorCode.UNAVAILABLE;
}

/** Runners whose connection was closed here: nothing more is sent on it (no ROLLBACK). */
const discarded = new WeakSet<QueryRunner>();

/**
 * pg's query timeout answers the caller but leaves the connection waiting for
 * the reply; back in the pool, the next statement on it would queue behind a
 * reply that may never come, so a hung database would poison the pool for
 * good. Ending the client closes its socket (pg destroys it at once when a
 * query is pending) and makes the pool drop it on release rather than reuse
 * it. Waits for the connection if the runner is still getting one, never for
 * the close itself (a graceful end would wait on the silent server).
 */
async function discardConnection(runner: QueryRunner): Promise<void> {
  if (runner.isReleased || discarded.has(runner)) return;
  discarded.add(runner);
  try {
    const client: { end(): Promise<void> } = await runner.connect();
    void client.end().catch(() => undefined);
  } catch {
    // No connection was ever made: nothing to close.
  }
}

/** The part of a pg client this file uses (what QueryRunner.connect() resolves to for PostgreSQL). */
interface PgClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

const statementNames = new Map<string, string>();

/**
 * Every statement is sent named, so each connection parses and plans it once
 * and then only binds and executes it: Baton's statements are a fixed set of
 * texts, and unnamed ones cost more to parse and plan than to run. The name is
 * the text's hash, so one name always means one text.
 */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `baton_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

async function rowsOn<T>(runner: QueryRunner, text: string, params: unknown[]): Promise<T[]> {
  try {
    const client = (await runner.connect()) as PgClient;
    const result = await client.query({ name: statementName(text), text, values: params });
    return result.rows as T[];
  } catch (err) {
    if (queryTimedOut(err)) await discardConnection(runner);
    throw asUnavailable(err);
  }
}

/**
 * The one door to PostgreSQL for repositories: plain rows for every statement
 * kind (TypeORM returns `[rows, count]` for UPDATE/DELETE otherwise), and short
 * transactions with rollback on any error.
 */
export class Sql implements Querier {
  /**
   * Told once of each statement or transaction that failed because the
   * database was unavailable (UNAVAILABLE): the app's metrics count them.
   */
  onUnavailable: () => void = () => {};

  constructor(readonly dataSource: DataSource) {}

  async rows<T = Row>(text: string, params: unknown[] = []): Promise<T[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await rowsOn<T>(runner, text, params);
    } catch (err) {
      throw this.unavailable(err);
    } finally {
      await runner.release();
    }
  }

  async transaction<T>(work: (q: Querier) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.connect();
      await runner.startTransaction();
    } catch (err) {
      if (queryTimedOut(err)) await discardConnection(runner);
      await runner.release().catch(() => undefined);
      throw this.unavailable(err);
    }
    try {
      const result = await work({ rows: (text, params = []) => rowsOn(runner, text, params) });
      await runner.commitTransaction();
      return result;
    } catch (err) {
      // A statement or the COMMIT timed out: the connection is closed, not rolled back (a ROLLBACK
      // would queue behind the reply that never came); PostgreSQL rolls back when the session ends.
      // A COMMIT that timed out may or may not have applied, which UNAVAILABLE leaves open.
      if (queryTimedOut(err)) await discardConnection(runner);
      if (runner.isTransactionActive && !discarded.has(runner)) {
        await runner.rollbackTransaction().catch(() => undefined);
      }
      throw this.unavailable(err);
    } finally {
      await runner.release();
    }
  }

  private unavailable(err: unknown): unknown {
    const mapped = asUnavailable(err);
    if (isDatabaseOutage(mapped)) this.onUnavailable();
    return mapped;
  }

  /**
   * Readiness: resolves when the database answers within `timeoutMs`, else
   * throws UNAVAILABLE (see probe).
   */
  async ping(timeoutMs: number): Promise<void> {
    await this.probe('SELECT 1', [], timeoutMs);
  }

  /**
   * A statement for a probe (readiness): its rows, or UNAVAILABLE once
   * `timeoutMs` has passed. Bounded on its own, far below the query timeout,
   * so /readyz turns 503 at once while the database hangs; a probe given up
   * on has its connection closed, so probes of a hung database do not pile
   * up in the pool.
   */
  async probe<T = Row>(text: string, params: unknown[], timeoutMs: number): Promise<T[]> {
    const runner = this.dataSource.createQueryRunner();
    const probe = rowsOn<T>(runner, text, params);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => {
      timer = setTimeout(() => resolve('expired'), timeoutMs);
    });
    try {
      const answer = await Promise.race([probe, expired]);
      if (answer === 'expired') {
        void discardConnection(runner);
        throw new BatonError(ErrorCode.UNAVAILABLE, `database unavailable: no answer within ${timeoutMs} ms`);
      }
      return answer;
    } finally {
      clearTimeout(timer);
      // Once the probe has settled (answered, or failed on its closed connection).
      const release = () => runner.release().catch(() => undefined);
      void probe.then(release, release);
    }
  }
}
