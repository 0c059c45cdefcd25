import { BatonError, checkStepsPageToken } from '@baton/contracts';
import type { StepView } from '@baton/contracts';
import type { Sql } from '../sql';
import { STEP_COLUMNS, toStepView } from '../rows';
import type { Page } from '../rows';

/** Steps as the public API lists them, in execution order. */
export class StepsRepository {
  constructor(private readonly sql: Sql) {}

  async list(namespace: string, runId: string, pageSize: number, pageToken: string | null): Promise<Page<StepView>> {
    // The token is the last seq of the previous page (checked by the edge's rule again here).
    const token = checkStepsPageToken(pageToken);
    const after = token === null ? -1 : Number(token);
    const exists = await this.sql.rows(`SELECT 1 FROM workflow_runs WHERE id = $1 AND namespace = $2`, [
      runId,
      namespace,
    ]);
    if (exists.length === 0) throw BatonError.notFound(`workflow run ${runId}`);
    const rows = await this.sql.rows(
      `SELECT ${STEP_COLUMNS} FROM step_runs s WHERE s.run_id = $1 AND s.seq > $2 ORDER BY s.seq LIMIT $3`,
      [runId, after, pageSize + 1],
    );
    const more = rows.length > pageSize;
    const items = (more ? rows.slice(0, pageSize) : rows).map(toStepView);
    return { items, nextPageToken: more ? String(items[items.length - 1]!.seq) : null };
  }
}
