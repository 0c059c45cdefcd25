import type { TestHarness } from './test-harness';
import { waitFor } from './wait';

/**
 * Invariant 3 after a scenario: every RUNNING run has a live owner — a worker
 * id, an unexpired lease and a worker that is not OFFLINE. An expired lease is
 * tolerated only until the watchdog's next pass (that is its job), so this
 * waits up to `timeoutMs` for the condition before failing with the offenders.
 */
export async function expectNoOwnerlessRunningRuns(
  h: TestHarness,
  { queue, timeoutMs = 10_000 }: { queue?: string; timeoutMs?: number } = {},
): Promise<void> {
  await waitFor(
    async () => {
      const rows = await h.query(
        `SELECT r.id, r.task_queue, r.locked_by, r.locked_until, w.status AS worker_status
         FROM workflow_runs r LEFT JOIN workers w ON w.id = r.locked_by
         WHERE r.status = 'RUNNING' AND ($1::text IS NULL OR r.task_queue = $1)
           AND (r.locked_by IS NULL OR r.locked_until IS NULL OR r.locked_until < now()
                OR w.id IS NULL OR w.status = 'OFFLINE')`,
        [queue ?? null],
      );
      if (rows.length > 0) throw new Error(`RUNNING without a live owner: ${JSON.stringify(rows)}`);
      return true;
    },
    'no RUNNING run without a live owner',
    { timeoutMs, intervalMs: 100 },
  );
}

/** The true per-status counts of live runs on a queue, straight from workflow_runs. */
export async function trueQueueCounts(
  h: TestHarness,
  queue: string,
  namespace = 'default',
): Promise<{ pending: number; running: number; sleeping: number }> {
  const rows = await h.query<{ status: string; n: number }>(
    `SELECT status, count(*)::int AS n FROM workflow_runs WHERE namespace = $1 AND task_queue = $2 GROUP BY status`,
    [namespace, queue],
  );
  const of = (status: string) => rows.find((r) => r.status === status)?.n ?? 0;
  return { pending: of('PENDING'), running: of('RUNNING'), sleeping: of('SLEEPING') };
}
