import { BatonError, Transport, WorkflowCancelledError } from '@baton/sdk';
import { TestHarness, deferred, jsonPayload, rawCall, waitFor } from '../index';
import type { RawReply } from '../index';

const ROUNDS = 20;

type Deferred = ReturnType<typeof deferred<void>>;

const json = jsonPayload;

interface GrpcTask {
  runId: string;
  leaseEpoch: number;
  leaseToken: string;
  attempt: number;
}

/**
 * A worker that speaks the gRPC worker protocol by hand, so tests can fire its
 * RPCs at exact moments. It heartbeats (without run ids: each run it claims is
 * settled well within one lease) so the watchdog keeps it ONLINE.
 */
class ProtocolWorker {
  private heartbeat?: NodeJS.Timeout;

  private constructor(
    readonly transport: Transport,
    readonly namespace: string,
    readonly queue: string,
    readonly workflowTypes: string[],
    readonly id: string,
  ) {}

  static async register(h: TestHarness, queue: string, workflowTypes: string[], namespace = 'default') {
    const transport = new Transport(h.grpcAddress);
    const res = await transport.call('worker', 'Register', {
      namespace,
      queue,
      workflowTypes,
      maxConcurrent: 100,
      hostname: `protocol-${queue}`,
      pid: 1,
    });
    const worker = new ProtocolWorker(transport, namespace, queue, workflowTypes, res.workerId!);
    worker.heartbeat = setInterval(() => {
      transport
        .call('worker', 'Heartbeat', { namespace, workerId: worker.id, activeRunIds: [] })
        .catch(() => undefined);
    }, 300);
    return worker;
  }

  claim(): Promise<GrpcTask> {
    return waitFor(
      async () => {
        const res = await this.transport.call(
          'worker',
          'PollTask',
          { namespace: this.namespace, queue: this.queue, workerId: this.id, workflowTypes: this.workflowTypes },
          { timeoutMs: 10_000 },
        );
        return (res.task as GrpcTask | undefined) ?? null;
      },
      `a task on ${this.queue}`,
      { intervalMs: 0 },
    );
  }

  lease(task: GrpcTask) {
    const { runId, leaseEpoch, leaseToken } = task;
    return { namespace: this.namespace, runId, workerId: this.id, leaseEpoch, leaseToken };
  }

  call(method: string, body: object): Promise<RawReply> {
    return rawCall(this.transport, 'worker', method, body);
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.transport
      .call('worker', 'Deregister', { namespace: this.namespace, workerId: this.id, drain: false })
      .catch(() => undefined);
    this.transport.close();
  }
}

function expectRefused(outcome: PromiseSettledResult<unknown>, reason?: string) {
  expect(outcome.status).toBe('rejected');
  const err = (outcome as PromiseRejectedResult).reason;
  expect(err).toBeInstanceOf(BatonError);
  expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', ...(reason ? { reason } : {}) });
}

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(
    `SELECT r.*, p.output FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1`,
    [id],
  );
  return row!;
}

describe('5.3 workflow state races', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('complete_and_fail_race_one_wins', async () => {
    const queue = h.unique();
    const worker = await ProtocolWorker.register(h, queue, ['race']);
    const client = h.client();
    const wins = { complete: 0, fail: 0 };
    try {
      for (let i = 0; i < ROUNDS; i++) {
        // Last rounds: a retryable failure, so "fail" wins by scheduling a retry rather than FAILED.
        const retryable = i >= ROUNDS - 4;
        const run = await client.start(
          'race',
          { i },
          { queue, retry: { maxAttempts: retryable ? 3 : 1, initialIntervalMs: 60_000 } },
        );
        const task = await worker.claim();
        expect(task.runId).toBe(run.id);
        const lease = worker.lease(task);
        // Every fourth round one side goes over HTTP, the other over gRPC.
        const overHttp = i % 4 === 3;
        const complete = overHttp
          ? h
              .http()
              .post(`/v1/namespaces/default/workflows/${run.id}/complete`)
              .send({
                workerId: worker.id,
                leaseEpoch: task.leaseEpoch,
                leaseToken: task.leaseToken,
                output: { winner: 'complete', i },
              })
              .then((res) => {
                if (res.status !== 200)
                  throw new BatonError(res.body.error.code, res.body.error.message, res.body.error);
                return res.body;
              })
          : worker.call('CompleteWorkflow', { lease, output: json({ winner: 'complete', i }) });
        const fail = worker.call('FailWorkflow', {
          lease,
          error: { message: `fail ${i}`, type: 'RaceError', nonRetryable: !retryable && i % 2 === 0 },
        });
        const [c, f] = await Promise.allSettled([complete, fail]);

        // Exactly one wins; the loser is told why.
        expect([c.status, f.status].filter((s) => s === 'fulfilled')).toHaveLength(1);
        const row = await runRow(h, run.id);
        if (c.status === 'fulfilled') {
          wins.complete++;
          expectRefused(f, 'RUN_TERMINAL');
          expect(row.status).toBe('COMPLETED');
          expect(JSON.parse(row.output.toString())).toEqual({ winner: 'complete', i });
          expect(row.error_message).toBeNull();
          expect(row.finished_at).toBeInstanceOf(Date);
        } else {
          wins.fail++;
          expectRefused(c, retryable ? 'LEASE_LOST' : 'RUN_TERMINAL');
          expect(row.status).toBe(retryable ? 'PENDING' : 'FAILED');
          expect(row.error_message).toBe(`fail ${i}`);
          expect(row.output).toBeNull();
          expect(row.finished_at === null).toBe(retryable);
          if (retryable) {
            expect((f as PromiseFulfilledResult<unknown>).value).toMatchObject({ willRetry: true, status: 'PENDING' });
            expect(row.attempt).toBe(2);
            await client.cancel(run.id);
          } else {
            expect((f as PromiseFulfilledResult<unknown>).value).toMatchObject({ willRetry: false, status: 'FAILED' });
          }
        }
        expect(row.locked_by).toBeNull();
        // What clients see agrees with the row.
        expect((await client.get(run.id)).status).toBe(row.status === 'PENDING' ? 'CANCELLED' : row.status);
      }
      expect(wins.complete + wins.fail).toBe(ROUNDS);
    } finally {
      await worker.close();
    }
  });

  test('cancel_during_completion_race', async () => {
    const queue = h.unique();
    const worker = await ProtocolWorker.register(h, queue, ['race']);
    const client = h.client();
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const run = await client.start('race', { i }, { queue, retry: { maxAttempts: 1 } });
        const task = await worker.claim();
        const lease = worker.lease(task);
        // Odd rounds race a failure instead of a completion.
        const finishing =
          i % 2 === 0
            ? worker.call('CompleteWorkflow', { lease, output: json({ i }) })
            : worker.call('FailWorkflow', { lease, error: { message: `failed ${i}`, nonRetryable: true } });
        const [fin, cancel] = await Promise.allSettled([finishing, client.cancel(run.id)]);

        expect([fin.status, cancel.status].filter((s) => s === 'fulfilled')).toHaveLength(1);
        const row = await runRow(h, run.id);
        if (cancel.status === 'fulfilled') {
          expect(cancel.value.alreadyCancelled).toBe(false);
          expectRefused(fin, 'RUN_CANCELLED');
          expect(row.status).toBe('CANCELLED');
          expect(row.output).toBeNull();
          expect(row.error_message).toBeNull();
          await expect(client.result(run.id)).rejects.toBeInstanceOf(WorkflowCancelledError);
        } else {
          const err = (cancel as PromiseRejectedResult).reason;
          expect(err).toMatchObject({ code: 'FAILED_PRECONDITION' });
          expect(row.status).toBe(i % 2 === 0 ? 'COMPLETED' : 'FAILED');
          if (i % 2 === 0) {
            expect(JSON.parse(row.output.toString())).toEqual({ i });
            await expect(client.result(run.id)).resolves.toEqual({ i });
          } else {
            expect(row.error_message).toBe(`failed ${i}`);
          }
        }
        expect(row.locked_by).toBeNull();
        expect(row.finished_at).toBeInstanceOf(Date);
      }
    } finally {
      await worker.close();
    }

    // The same race through the SDK: a handler returns at the moment its run is cancelled.
    // Either outcome is fine; the worker must let go either way and the states must agree.
    const sdkQueue = h.unique();
    type Gate = { entered: Deferred; open: Deferred };
    const gates = new Map<string, Gate>();
    const gate = (runId: string): Gate => {
      let g = gates.get(runId);
      if (!g) gates.set(runId, (g = { entered: deferred(), open: deferred() }));
      return g;
    };
    const sdkWorker = h.worker({ queue: sdkQueue });
    sdkWorker.register('gated', async (ctx) => {
      gate(ctx.runId).entered.resolve();
      await gate(ctx.runId).open.promise;
      return 'completed';
    });
    await sdkWorker.start();
    for (let i = 0; i < 5; i++) {
      const run = await client.start('gated', null, { queue: sdkQueue });
      await gate(run.id).entered.promise;
      gate(run.id).open.resolve();
      const cancel = await client.cancel(run.id).then(
        (r) => r,
        (e: unknown) => e,
      );
      const final = await client.waitForTerminal(run.id, '10s');
      if (cancel instanceof Error) {
        expect(cancel).toMatchObject({ code: 'FAILED_PRECONDITION' });
        expect(final.status).toBe('COMPLETED');
        expect(final.output).toBe('completed');
      } else {
        expect(final.status).toBe('CANCELLED');
        expect(final.output).toBeUndefined();
      }
      await waitFor(() => sdkWorker.activeCount === 0, 'the worker to let go of the run');
    }
  });

  test('step_complete_during_workflow_cancel', async () => {
    // Audit every step write with the run's status as committed at that moment (a fresh
    // snapshot per statement): a step written after the cancel committed would show CANCELLED.
    await h.query(`CREATE TABLE IF NOT EXISTS step_write_audit (
      run_id uuid, step_id text, op text, run_status text, at timestamptz DEFAULT clock_timestamp())`);
    await h.query(`CREATE OR REPLACE FUNCTION audit_step_write() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO step_write_audit (run_id, step_id, op, run_status)
        VALUES (NEW.run_id, NEW.step_id, TG_OP, (SELECT status FROM workflow_runs WHERE id = NEW.run_id));
        RETURN NEW;
      END $$`);
    await h.query(`DROP TRIGGER IF EXISTS step_write_audit ON step_runs`);
    await h.query(`CREATE TRIGGER step_write_audit AFTER INSERT OR UPDATE ON step_runs
      FOR EACH ROW EXECUTE FUNCTION audit_step_write()`);

    const queue = h.unique();
    const worker = await ProtocolWorker.register(h, queue, ['race']);
    const client = h.client();
    const outcomes = { written: 0, refused: 0 };
    const runIds: string[] = [];
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const run = await client.start('race', { i }, { queue });
        runIds.push(run.id);
        const task = await worker.claim();
        const lease = worker.lease(task);
        const [step, cancel] = await Promise.allSettled([
          worker.call('CompleteStep', { lease, stepId: 'charge', seq: 0, output: json({ charged: i }) }),
          client.cancel(run.id),
        ]);
        // The cancel always wins the run; the step either landed before it or was refused.
        expect(cancel.status).toBe('fulfilled');
        const steps = await h.query(`SELECT * FROM step_runs WHERE run_id = $1`, [run.id]);
        if (step.status === 'fulfilled') {
          outcomes.written++;
          expect(steps).toHaveLength(1);
          expect(steps[0]).toMatchObject({ step_id: 'charge', status: 'COMPLETED' });
          expect(JSON.parse(steps[0]!.output.toString())).toEqual({ charged: i });
        } else {
          outcomes.refused++;
          expectRefused(step, 'RUN_CANCELLED');
          expect(steps).toHaveLength(0);
        }
        expect((await runRow(h, run.id)).status).toBe('CANCELLED');

        // After the cancel, every step mutation of the old lease is refused and writes nothing.
        const late = await Promise.allSettled([
          worker.call('CompleteStep', { lease, stepId: 'ship', seq: 1, output: json('late') }),
          worker.call('BeginStep', { lease, stepId: 'ship', seq: 1 }),
          worker.call('FailStep', { lease, stepId: 'ship', seq: 1, error: { message: 'late' } }),
          worker.call('Sleep', { lease, stepId: 'nap', seq: 1, durationMs: 1000 }),
        ]);
        for (const outcome of late) expectRefused(outcome, 'RUN_CANCELLED');
        expect(
          await h.query(`SELECT 1 FROM step_runs WHERE run_id = $1 AND step_id <> 'charge'`, [run.id]),
        ).toHaveLength(0);
      }
    } finally {
      await worker.close();
    }
    expect(outcomes.written + outcomes.refused).toBe(ROUNDS);

    // Through the SDK: a step body that finishes after its run was cancelled records nothing.
    const sdkQueue = h.unique();
    const inBody = deferred<string>();
    const release = deferred<void>();
    const sdkWorker = h.worker({ queue: sdkQueue });
    sdkWorker.register('slow-step', async (ctx) => {
      await ctx.step('first', () => 1);
      await ctx.step('slow', async () => {
        inBody.resolve(ctx.runId);
        await release.promise;
        return 'too late';
      });
      return 'done';
    });
    await sdkWorker.start();
    const run = await client.start('slow-step', null, { queue: sdkQueue });
    runIds.push(run.id);
    expect(await inBody.promise).toBe(run.id);
    await client.cancel(run.id);
    release.resolve();
    await waitFor(() => sdkWorker.activeCount === 0, 'the worker to let go of the run');
    expect((await client.steps(run.id)).map((s) => s.stepId)).toEqual(['first']);
    expect((await client.get(run.id)).status).toBe('CANCELLED');

    // Never a step written while its run was already CANCELLED.
    const audit = await h.query(`SELECT * FROM step_write_audit WHERE run_id = ANY($1::uuid[])`, [runIds]);
    expect(audit.length).toBe(outcomes.written + 1);
    for (const entry of audit) expect(entry).toMatchObject({ run_status: 'RUNNING' });
    await h.query(`DROP TRIGGER step_write_audit ON step_runs`);
  });
});
