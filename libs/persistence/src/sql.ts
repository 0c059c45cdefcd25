import { BatonError, ErrorCode } from '@baton/contracts';
import type { DataSource, QueryRunner } from 'typeorm';

export type Row = Record<string, any>;

/** What a repository needs to run statements, inside or outside a transaction. */
export interface Querier {
  rows<T = Row>(text: string, params?: unknown[]): Promise<T[]>;
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
]);

/**
 * Database outages become UNAVAILABLE (clients and the SDK retry those) rather
 * than INTERNAL; everything else passes through unchanged.
 */
function asUnavailable(err: unknown): unknown {
  const e = err as { code?: string; driverError?: { code?: string }; message?: string };
  const code = e?.code ?? e?.driverError?.code;
  const lost = /Connection terminated|ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect/.test(
    e?.message ?? '',
  );
  if ((code && UNAVAILABLE_SQLSTATES.has(code)) || lost) {
    return new BatonError(ErrorCode.UNAVAILABLE, `database unavailable: ${e?.message ?? code}`);
  }
  return err;
}

async function rowsOn<T>(runner: QueryRunner, text: string, params: unknown[]): Promise<T[]> {
  try {
    const result = await runner.query(text, params, true);
    return (result.records ?? []) as T[];
  } catch (err) {
    throw asUnavailable(err);
  }
}

/**
 * The one door to PostgreSQL for repositories: plain rows for every statement
 * kind (TypeORM returns `[rows, count]` for UPDATE/DELETE otherwise), and short
 * transactions with rollback on any error.
 */
export class Sql implements Querier {
  constructor(readonly dataSource: DataSource) {}

  async rows<T = Row>(text: string, params: unknown[] = []): Promise<T[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await rowsOn<T>(runner, text, params);
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
      await runner.release().catch(() => undefined);
      throw asUnavailable(err);
    }
    try {
      const result = await work({ rows: (text, params = []) => rowsOn(runner, text, params) });
      await runner.commitTransaction();
      return result;
    } catch (err) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw err;
    } finally {
      await runner.release();
    }
  }
}
