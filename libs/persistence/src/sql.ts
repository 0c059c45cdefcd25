import type { DataSource, QueryRunner } from 'typeorm';

export type Row = Record<string, any>;

/** What a repository needs to run statements, inside or outside a transaction. */
export interface Querier {
  rows<T = Row>(text: string, params?: unknown[]): Promise<T[]>;
}

async function rowsOn<T>(runner: QueryRunner, text: string, params: unknown[]): Promise<T[]> {
  const result = await runner.query(text, params, true);
  return (result.records ?? []) as T[];
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
    await runner.connect();
    await runner.startTransaction();
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
