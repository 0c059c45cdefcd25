import { LIMITS } from '@baton/contracts';
import { TestHarness } from '../index';
import { ProtocolWorker } from '../harness/protocol-worker';

/**
 * A poll may ask for several tasks (maxTasks: the worker's free slots) and
 * gets up to that many in one reply, oldest first, within the worker's
 * limits: one call instead of one per task.
 */
describe('multi-task polls', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  async function startRuns(queue: string, types: string[]): Promise<string[]> {
    const client = h.client();
    const ids: string[] = [];
    // One at a time: their order of arrival is the order they are claimed in.
    for (const type of types) ids.push((await client.start(type, null, { queue })).id);
    return ids;
  }

  test('poll_hands_out_up_to_max_tasks_in_one_reply', async () => {
    const queue = h.unique('multi');
    const ids = await startRuns(queue, ['job', 'job', 'job', 'job', 'job']);
    const worker = (await ProtocolWorker.register(h, { queue, workflowTypes: ['job'], maxConcurrent: 10 })).keepAlive();

    const first = await worker.grpcPoll({ maxTasks: 3 });
    const firstIds = [first.task!, ...(first.moreTasks ?? [])].map((t) => t.runId);
    expect(firstIds).toEqual(ids.slice(0, 3));
    // Over HTTP, asking for more than are left: the two that are.
    const second = await worker.poll({ maxTasks: 10 });
    expect(second.tasks.map((t) => t.runId)).toEqual(ids.slice(3));
    const rows = await h.query(
      `SELECT status, locked_by, claims FROM workflow_runs WHERE task_queue = $1 ORDER BY id`,
      [queue],
    );
    expect(rows).toEqual(ids.map(() => ({ status: 'RUNNING', locked_by: worker.id, claims: 1 })));
    for (const task of second.tasks) expect(await worker.complete(task, 'ok')).toBe(200);
  });

  test('multi_task_poll_respects_max_concurrent_and_type_limits', async () => {
    const queue = h.unique('multi-limits');
    await startRuns(queue, ['limited', 'limited', 'limited', 'free', 'free', 'free', 'free', 'free']);
    const worker = (
      await ProtocolWorker.register(h, {
        queue,
        workflowTypes: ['limited', 'free'],
        maxConcurrent: 4,
        typeConcurrency: { limited: 1 },
      })
    ).keepAlive();

    // Asks for far more than it may hold: the server gives no more than its limits allow.
    const outcome = await worker.poll({ maxTasks: LIMITS.pollMaxTasks });
    expect(outcome.status).toBe(200);
    // Four places (max_concurrent 4): the first takes the oldest run (limited); the others may not
    // take another limited one (its limit is 1), so they take the oldest free ones.
    expect(outcome.tasks.map((t) => t.workflowType)).toEqual(['limited', 'free', 'free', 'free']);
    const held = await h.query(
      `SELECT workflow_type, count(*)::int AS n FROM workflow_runs
       WHERE task_queue = $1 AND status = 'RUNNING' AND locked_by = $2 GROUP BY workflow_type ORDER BY 1`,
      [queue, worker.id],
    );
    expect(held).toEqual([
      { workflow_type: 'free', n: 3 },
      { workflow_type: 'limited', n: 1 },
    ]);

    // Full: the next poll gets nothing until a run finishes, then only what fits (one; not limited).
    const next = worker.poll({ maxTasks: 4 });
    expect(await worker.complete(outcome.tasks[1]!, 'ok')).toBe(200);
    expect((await next).tasks.map((t) => t.workflowType)).toEqual(['free']);
  });

  test('max_tasks_out_of_range_is_refused_naming_the_field', async () => {
    const queue = h.unique('multi-bad');
    const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
    for (const maxTasks of [LIMITS.pollMaxTasks + 1, -1, 1.5]) {
      const outcome = await worker.poll({ maxTasks });
      expect(outcome.status).toBe(400);
      expect(outcome.error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'maxTasks' });
      await expect(
        worker.grpcPoll({ maxTasks: Math.trunc(maxTasks) === maxTasks ? maxTasks : 2 ** 31 }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'maxTasks',
      });
    }
  });
});
