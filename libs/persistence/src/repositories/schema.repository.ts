import { MIGRATIONS_TABLE } from '../data-source';
import { MIGRATIONS } from '../migrations';
import type { Sql } from '../sql';

/** PostgreSQL: the relation does not exist (no migration ever ran on this database). */
const UNDEFINED_TABLE = '42P01';

/** The name TypeORM records for a migration: its `name` property, else its class name. */
function recordedName(migration: new () => unknown): string {
  const { name } = new migration() as { name?: string };
  return name ?? migration.name;
}

/**
 * The schema this build runs on: the last of its migrations. A database that
 * has it may be newer still (a later release migrated it during a rolling
 * deploy), which this build tolerates: migrations only add.
 */
export const EXPECTED_MIGRATION = recordedName(MIGRATIONS[MIGRATIONS.length - 1]!);

const IS_MIGRATED = `SELECT EXISTS (SELECT 1 FROM ${MIGRATIONS_TABLE} WHERE name = $1) AS migrated`;

/** What readiness asks of the schema. */
export class SchemaRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * Whether the database holds EXPECTED_MIGRATION: false on a database never
   * migrated; UNAVAILABLE when the database does not answer within `timeoutMs`
   * (one bounded probe answers both questions).
   */
  async isMigrated(timeoutMs: number): Promise<boolean> {
    try {
      const [row] = await this.sql.probe<{ migrated: boolean }>(IS_MIGRATED, [EXPECTED_MIGRATION], timeoutMs);
      return row?.migrated === true;
    } catch (err) {
      if ((err as { code?: string }).code === UNDEFINED_TABLE) return false;
      throw err;
    }
  }
}
