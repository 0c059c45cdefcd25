import { RunsRepository, Sql, createDataSource } from '@baton/persistence';
import { Transport } from '@baton/sdk';
import type { CreateRunCommand } from '@baton/persistence';
import { TestHarness } from '../index';
import type { TestConfig } from '../harness/test-harness';
import { ProtocolWorker } from '../harness/protocol-worker';
import type { PollOutcome } from '../harness/protocol-worker';
import { waitFor } from '../harness/wait';

/**
 * Eager dispatch: with frontend and matching in one process (as the harness
 * runs them), a start for which a poll already waits inserts the run claimed
 * for that poll's worker, in one statement, and the poll gets it at once;
 * the worker's limits and FIFO order behind older runs hold as for a claim.
 */
describe('eager dispatch', () => {
  // No periodic heartbeat or fallback ring within a test: nothing but the test writes a worker's row
  // or rings a queue, so a poll found waiting stays waiting (not inside a claim round) until the start.
  const quiet: TestConfig = {
    heartbeatIntervalSecs: 60,
    workerStaleThresholdSecs: 120,
    leaseDurationSecs: 120,
    claimAckTimeoutSecs: 120,
    matchingFallbackSecs: 60,
    pollTimeoutSecs: 5,
  };

  /** A direct link to the test's database, for starts that ring nobody and for the guard itself. */
  async function repositoryOf(h: TestHarness) {
    const dataSource = createDataSource({ url: h.directDatabaseUrl, poolSize: 2, applicationName: 'eager-test' });
    await dataSource.initialize();
    return { runs: new RunsRepository(new Sql(dataSource)), close: () => dataSource.destroy() };
  }

  const command = (queue: string, workflowType = 'job'): CreateRunCommand => ({
    namespace: 'default',
    queue,
    workflowType,
    input: { data: Buffer.from('1'), encoding: 'json' },
    externalId: null,
    retryPolicy: null,
    timeoutMs: null,
    correlationId: null,
    traceId: null,
  });

  /** One start through the eager-dispatch statement, with `workerId` holding one place. */
  async function createClaimed(runs: RunsRepository, cmd: CreateRunCommand, workerId: string) {
    const [outcome] = await runs.createClaimed([cmd], [workerId], 60_000);
    if (!outcome) throw new Error('a live run holds the external id');
    return outcome;
  }

  /** Waits until a poll for (queue, type) is waiting in this process's matching (reserved and put back at once). */
  async function pollWaiting(h: TestHarness, queue: string, type = 'job') {
    await waitFor(() => {
      const reservation = h.localDispatch.reserve('default', queue, type);
      reservation?.release();
      return reservation !== undefined;
    }, `a poll waiting for ${type} on ${queue}`);
  }

  /** One StartMany call of `job` runs on `queue`, an item per entry of `items`; its outcomes. */
  async function startMany(transport: Transport, queue: string, items: Array<{ externalId?: string }>) {
    const starts = items.map((item, n) => ({
      namespace: 'default',
      workflowType: 'job',
      queue,
      input: { data: Buffer.from(String(n)), encoding: 'json' },
      ...item,
    }));
    const { outcomes } = await transport.call('workflow', 'StartMany', { starts });
    return outcomes!;
  }

  /** A poll in flight whose answer the test can look at without waiting for it. */
  function pollInFlight(worker: ProtocolWorker) {
    let answer: PollOutcome | undefined;
    const done = worker.poll().then((outcome) => (answer = outcome));
    return { done, answered: () => answer };
  }

  /** The run row, and the transactions that last wrote it, its payload row and its worker's row. */
  async function rowsOf(h: TestHarness, runId: string) {
    const [row] = await h.query(
      `SELECT r.status, r.claims, r.lease_epoch, r.locked_by, r.delivered, r.started_at IS NOT NULL AS started,
              r.xmin::text AS run_xid, p.xmin::text AS payload_xid, k.xmin::text AS worker_xid
       FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id LEFT JOIN workers k ON k.id = r.locked_by
       WHERE r.id = $1`,
      [runId],
    );
    return row!;
  }

  describe('on (the default)', () => {
    let h: TestHarness;
    let repo: Awaited<ReturnType<typeof repositoryOf>>;

    beforeAll(async () => {
      h = await TestHarness.start(quiet);
      repo = await repositoryOf(h);
    });

    afterAll(async () => {
      ProtocolWorker.closeAll();
      await repo?.close();
      await h?.stop();
    });

    test('eager_start_hands_run_to_waiting_poll_in_one_commit', async () => {
      expect(h.config.eagerDispatch).toBe(true);
      const queue = h.unique('eager');
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const poll = pollInFlight(worker);
      await pollWaiting(h, queue);

      const run = await h.client().start('job', 1, { queue });
      // Inserted already claimed: RUNNING for the worker as soon as the start answers.
      const row = await rowsOf(h, run.id);
      expect(row).toMatchObject({ status: 'RUNNING', locked_by: worker.id, claims: 1, lease_epoch: 1 });
      expect([row.delivered, row.started]).toEqual([false, true]);
      // One transaction inserted the run, its payload and wrote the worker's row (the claim's `touched`).
      // The doorbell path inserts the run and its payload in one commit and claims it in another.
      expect(row.run_xid).toBe(row.payload_xid);
      expect(row.worker_xid).toBe(row.run_xid);

      await poll.done;
      expect(poll.answered()?.task).toMatchObject({ runId: run.id, leaseEpoch: 1 });
      await waitFor(async () => {
        const stats = await h.client().queueStats(queue);
        return stats.pending === 0 && stats.running === 1;
      }, 'the queue counters to count the run RUNNING and never PENDING');
      expect(await worker.complete(poll.answered()!.task!)).toBe(200);
      expect((await h.client().get(run.id)).status).toBe('COMPLETED');
    });

    test('eager_start_respects_max_concurrent', async () => {
      // The guard itself, deterministically: one more run than the worker's room, or than its type limit.
      for (const limits of [{ maxConcurrent: 1 }, { maxConcurrent: 5, typeConcurrency: { job: 1 } }]) {
        const queue = h.unique('guard');
        const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'], ...limits });
        const first = await createClaimed(repo.runs, command(queue), worker.id);
        expect(first.claimed).toMatchObject({ runId: first.run.id, workerId: worker.id, leaseEpoch: 1, claims: 1 });
        const second = await createClaimed(repo.runs, command(queue), worker.id);
        expect(second.claimed).toBeNull();
        expect([second.run.status, second.run.lockedBy, second.run.claims]).toEqual(['PENDING', null, 0]);
      }

      // Through the apps: a worker at its max_concurrent with a surplus poll gets nothing until a slot frees.
      const queue = h.unique('max');
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'], maxConcurrent: 1 });
      const a = await h.client().start('job', 1, { queue });
      const taskA = await worker.pollUntilTask();
      expect(taskA.runId).toBe(a.id);
      const surplus = pollInFlight(worker);
      await pollWaiting(h, queue);
      const b = await h.client().start('job', 2, { queue });
      expect((await rowsOf(h, b.id)).status).toBe('PENDING');
      expect(surplus.answered()).toBeUndefined();
      // The surplus poll ends empty (the run stayed PENDING all along); once A completes, B is claimed normally.
      await surplus.done;
      expect(surplus.answered()?.task).toBeNull();
      expect((await rowsOf(h, b.id)).status).toBe('PENDING');
      expect(await worker.complete(taskA)).toBe(200);
      const taskB = await worker.pollUntilTask();
      expect(taskB.runId).toBe(b.id);
      const row = await rowsOf(h, b.id);
      expect(row).toMatchObject({ status: 'RUNNING', claims: 1, lease_epoch: 1 });
      expect(row.run_xid).not.toBe(row.payload_xid);
    });

    /** A worker whose poll for `maxTasks` waits on a fresh queue, and a transport to send StartMany with (closed after `body`). */
    async function intoWaitingPoll(
      prefix: string,
      maxTasks: number,
      body: (ctx: {
        queue: string;
        worker: ProtocolWorker;
        poll: ReturnType<ProtocolWorker['poll']>;
        transport: Transport;
      }) => Promise<void>,
    ) {
      const queue = h.unique(prefix);
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const poll = worker.poll({ maxTasks });
      await pollWaiting(h, queue);
      const transport = new Transport(h.grpcAddress);
      try {
        await body({ queue, worker, poll, transport });
      } finally {
        transport.close();
      }
    }

    test('eager_start_many_hands_runs_to_waiting_polls_in_one_commit', async () => {
      await intoWaitingPoll('eager-many', 3, async ({ queue, worker, poll, transport }) => {
        const outcomes = await startMany(transport, queue, [{}, {}, {}]);
        const ids = outcomes.map((o) => o.started!.run!.id!);
        // One poll asking for three tasks got the three runs, each inserted already claimed for its worker.
        const answer = await poll;
        expect(answer.tasks.map((t) => t.runId)).toEqual(ids);
        const rows = await Promise.all(ids.map((id) => rowsOf(h, id)));
        for (const row of rows) expect(row).toMatchObject({ status: 'RUNNING', locked_by: worker.id, claims: 1 });
        // One transaction inserted the three runs and their payloads and wrote the worker's row.
        expect(new Set(rows.flatMap((r) => [r.run_xid, r.payload_xid, r.worker_xid])).size).toBe(1);
        for (const task of answer.tasks) expect(await worker.complete(task)).toBe(200);
      });
    });

    test('eager_start_many_claims_within_the_limits_and_leaves_the_rest_pending', async () => {
      // The guard over a batch, deterministically: three runs, two places, a worker with room for one.
      const queue = h.unique('guard-many');
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'], maxConcurrent: 1 });
      const outcomes = await repo.runs.createClaimed(
        [command(queue), command(queue), command(queue)],
        [worker.id, worker.id],
        60_000,
      );
      expect(outcomes.map((o) => [o!.run.status, o!.claimed?.waiter ?? null])).toEqual([
        ['RUNNING', 0],
        ['PENDING', null],
        ['PENDING', null],
      ]);
      // Priority before the order of the starts: the higher one takes the place.
      const queue2 = h.unique('guard-priority');
      const other = await ProtocolWorker.register(h, { queue: queue2, workflowTypes: ['job'], maxConcurrent: 1 });
      const [low, high] = await repo.runs.createClaimed(
        [command(queue2), { ...command(queue2), priority: 5 }],
        [other.id],
        60_000,
      );
      expect([low!.run.status, high!.run.status]).toEqual(['PENDING', 'RUNNING']);
      // An external id a live run holds: nothing inserted for it (the caller finds that run), its place unused.
      const queue3 = h.unique('guard-conflict');
      const third = await ProtocolWorker.register(h, { queue: queue3, workflowTypes: ['job'] });
      await repo.runs.create({ ...command(queue3), externalId: 'order-1' });
      const [again, fresh] = await repo.runs.createClaimed(
        [{ ...command(queue3), externalId: 'order-1' }, command(queue3)],
        [third.id],
        60_000,
      );
      expect(again).toBeNull();
      // The older PENDING run holding 'order-1' is claimable, so FIFO keeps the new one PENDING too.
      expect([fresh!.run.status, fresh!.claimed]).toEqual(['PENDING', null]);
      expect(await h.query(`SELECT 1 FROM workflow_runs WHERE task_queue = $1`, [queue3])).toHaveLength(2);
    });

    test('eager_start_many_answers_a_taken_external_id_with_the_live_run', async () => {
      await intoWaitingPoll('eager-taken', 2, async ({ queue, worker, poll, transport }) => {
        // Two starts of one external id in one call: the first starts the run, the second finds it.
        const [first, second] = await startMany(transport, queue, [{ externalId: 'k' }, { externalId: 'k' }]);
        expect([first!.started!.alreadyExists, second!.started!.alreadyExists]).toEqual([false, true]);
        expect(second!.started!.run!.id).toBe(first!.started!.run!.id);
        const answer = await poll;
        expect(answer.tasks.map((t) => t.runId)).toEqual([first!.started!.run!.id]);
        expect(await h.query(`SELECT 1 FROM workflow_runs WHERE task_queue = $1`, [queue])).toHaveLength(1);
        expect(await worker.complete(answer.tasks[0]!)).toBe(200);
      });
    });

    test('eager_start_keeps_fifo_behind_older_runs', async () => {
      const queue = h.unique('fifo');
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const poll = pollInFlight(worker);
      await pollWaiting(h, queue);
      // An older claimable run that matching has not heard of (no doorbell): the waiting poll must get it first.
      const older = await repo.runs.create(command(queue));
      const newer = await h.client().start('job', 2, { queue });
      await poll.done;
      expect(poll.answered()?.task?.runId).toBe(older.run.id);
      expect((await rowsOf(h, newer.id)).status).toBe('PENDING');

      // The guard itself, deterministically: the worker has room, but `newer` is older than this one.
      const latest = await createClaimed(repo.runs, command(queue), worker.id);
      expect([latest.claimed, latest.run.status]).toEqual([null, 'PENDING']);
      // Then claimed in order, each by a normal claim.
      const second = await worker.pollUntilTask();
      const third = await worker.pollUntilTask();
      expect([second.runId, third.runId]).toEqual([newer.id, latest.run.id]);
      expect((await rowsOf(h, newer.id)).claims).toBe(1);
    });
  });

  describe('off (BATON_EAGER_DISPATCH=false)', () => {
    let h: TestHarness;

    beforeAll(async () => {
      h = await TestHarness.start({ ...quiet, overrides: { eagerDispatch: false } });
    });

    afterAll(async () => {
      ProtocolWorker.closeAll();
      await h?.stop();
    });

    test('eager_dispatch_off_uses_doorbell', async () => {
      const queue = h.unique('doorbell');
      const worker = await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] });
      const poll = pollInFlight(worker);
      await pollWaiting(h, queue);
      const run = await h.client().start('job', 1, { queue });
      await poll.done;
      expect(poll.answered()?.task?.runId).toBe(run.id);
      const row = await rowsOf(h, run.id);
      expect(row).toMatchObject({ status: 'RUNNING', locked_by: worker.id, claims: 1, lease_epoch: 1 });
      // Two commits: the insert (run and payload), then the claim (run and worker).
      expect(row.run_xid).not.toBe(row.payload_xid);
      expect(row.worker_xid).toBe(row.run_xid);
      expect(await worker.complete(poll.answered()!.task!)).toBe(200);
    });
  });
});
