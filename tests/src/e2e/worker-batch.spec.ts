import { randomUUID } from 'node:crypto';
import { BatonError, ErrorCode, ErrorReason, LIMITS } from '@baton/contracts';
import { Transport } from '@baton/sdk';
import type { Lease, WorkerCall } from '@baton/proto';
import { TestHarness, jsonPayload } from '../index';
import { ProtocolWorker } from '../harness/protocol-worker';
import type { PolledTask } from '../harness/protocol-worker';

/**
 * The worker's Batch call: several run mutations in one call, each checked
 * and applied as its lone RPC would be and answered with that RPC's outcome.
 * The SDK sends its runs' concurrent mutations this way.
 */
describe('worker batch', () => {
  let h: TestHarness;
  let transport: Transport;

  beforeAll(async () => {
    h = await TestHarness.start();
    transport = new Transport(h.grpcAddress);
  });

  afterAll(async () => {
    transport?.close();
    ProtocolWorker.closeAll();
    await h?.stop();
  });

  const json = jsonPayload;

  async function heldTasks(queue: string, n: number): Promise<{ worker: ProtocolWorker; tasks: PolledTask[] }> {
    const client = h.client();
    for (let i = 0; i < n; i++) await client.start('job', i, { queue });
    const worker = (await ProtocolWorker.register(h, { queue, workflowTypes: ['job'] })).keepAlive();
    const tasks: PolledTask[] = [];
    while (tasks.length < n) tasks.push(...(await worker.poll({ maxTasks: n - tasks.length })).tasks);
    return { worker, tasks };
  }

  test('worker_batch_answers_each_call_as_its_lone_rpc', async () => {
    const queue = h.unique('batch');
    const { worker, tasks } = await heldTasks(queue, 4);
    const lease = (t: PolledTask, leaseToken = t.leaseToken): Lease => ({
      namespace: 'default',
      runId: t.runId,
      workerId: worker.id,
      leaseEpoch: t.leaseEpoch,
      leaseToken,
    });
    const [a, b, c, d] = tasks as [PolledTask, PolledTask, PolledTask, PolledTask];
    const tooLong = 's'.repeat(LIMITS.nameBytes + 1);
    // What the lone call answers for the bad step id.
    const lone = await transport
      .call('worker', 'CompleteStep', { lease: lease(d), stepId: tooLong, seq: 0, output: json(1) })
      .catch((err: unknown) => err as BatonError);
    expect(lone).toBeInstanceOf(BatonError);

    const calls: WorkerCall[] = [
      { completeStep: { lease: lease(a), stepId: 'one', seq: 0, output: json('a1') } },
      { completeWorkflow: { lease: lease(b, randomUUID()), output: json('stale') } }, // not its lease token
      { completeWorkflow: { lease: lease(c), output: json('c done') } },
      { completeStep: { lease: lease(d), stepId: tooLong, seq: 0, output: json(1) } },
      {},
      { sleep: { lease: lease(d), stepId: 'nap', seq: 0, durationMs: 60_000 } },
    ];
    const { outcomes } = await transport.call('worker', 'Batch', { calls });
    expect(outcomes).toHaveLength(calls.length);
    const [stepDone, stale, runDone, badStep, empty, slept] = outcomes!;
    expect(stepDone!.completeStep).toEqual({ attempt: 1 });
    expect(stale!.error).toMatchObject({ code: ErrorCode.FAILED_PRECONDITION, reason: ErrorReason.LEASE_LOST });
    expect(runDone!.completeWorkflow).toEqual({});
    expect(badStep!.error).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      message: (lone as BatonError).message,
      field: 'stepId',
      reason: '',
    });
    expect(empty!.error).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, field: 'call' });
    expect(slept!.sleep).toMatchObject({ suspended: true });

    const rows = await h.query(
      `SELECT r.id, r.status, convert_from(p.output, 'UTF8') AS output,
              (SELECT string_agg(s.step_id || ':' || s.status, ',' ORDER BY s.seq) FROM step_runs s WHERE s.run_id = r.id) AS steps
       FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id WHERE r.task_queue = $1`,
      [queue],
    );
    const row = (t: PolledTask) => rows.find((r) => r.id === t.runId)!;
    expect(row(a)).toMatchObject({ status: 'RUNNING', steps: 'one:COMPLETED' });
    expect(row(b)).toMatchObject({ status: 'RUNNING', output: null, steps: null });
    expect(row(c)).toMatchObject({ status: 'COMPLETED', output: JSON.stringify('c done') });
    expect(row(d)).toMatchObject({ status: 'SLEEPING', steps: 'nap:RUNNING' });
  });

  test('worker_batch_refuses_too_many_or_no_calls', async () => {
    const call: WorkerCall = {
      completeWorkflow: {
        lease: {
          namespace: 'default',
          runId: '018f0000-0000-7000-8000-000000000000',
          workerId: '018f0000-0000-7000-8000-000000000001',
          leaseEpoch: 1,
          leaseToken: '018f0000-0000-7000-8000-000000000002',
        },
      },
    };
    const calls = Array.from({ length: LIMITS.workerBatchCalls + 1 }, () => call);
    await expect(transport.call('worker', 'Batch', { calls })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'calls',
      message: expect.stringContaining(`at most ${LIMITS.workerBatchCalls}`),
    });
    await expect(transport.call('worker', 'Batch', { calls: [] })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'calls',
    });
    // At the limit the call is taken, and each item answered (here: no such run).
    const { outcomes } = await transport.call('worker', 'Batch', { calls: calls.slice(1) });
    expect(outcomes).toHaveLength(LIMITS.workerBatchCalls);
    for (const outcome of outcomes!) expect(outcome.error?.code).toBeDefined();
  });
});
