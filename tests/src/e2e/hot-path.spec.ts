import { BatonError } from '@baton/sdk';
import { Transport } from '@baton/sdk';
import { TestHarness } from '../index';
import { RawWorker } from '../harness/protocol';
import { deferred, waitFor } from '../harness/wait';

/**
 * The hot path's levers keep every guarantee: the last step's record travels
 * with CompleteWorkflow (one call, one commit), steps whose record waited are
 * never lost or rerun, and the field rules are the same as CompleteStep's.
 */
describe('hot path', () => {
  let h: TestHarness;
  const rawWorkers: RawWorker[] = [];

  beforeAll(async () => {
    // No periodic heartbeat within a test: whatever acknowledges a delivery is the early one.
    h = await TestHarness.start({ heartbeatIntervalSecs: 60, workerStaleThresholdSecs: 120, leaseDurationSecs: 120 });
  });

  afterAll(async () => {
    await Promise.allSettled(rawWorkers.map((w) => w.stop()));
    await h?.stop();
  });

  /** Transaction ids that wrote a run's row and its steps' rows (equal ids: one commit). */
  async function writers(runId: string) {
    const [run] = await h.query(`SELECT xmin::text AS xid, status FROM workflow_runs WHERE id = $1`, [runId]);
    const steps = await h.query(
      `SELECT step_id, status, convert_from(output, 'UTF8') AS output, xmin::text AS xid FROM step_runs WHERE run_id = $1 ORDER BY seq`,
      [runId],
    );
    return { run: run!, steps };
  }

  test('the last step is recorded in the same commit that completes the run', async () => {
    const queue = h.unique('fold');
    const worker = h.worker({ queue });
    worker.register('three', async (ctx, n: number) => {
      const a = await ctx.step('a', () => n + 1);
      const b = await ctx.step('b', () => a + 1);
      return ctx.step('c', () => b + 1);
    });
    await worker.start();
    try {
      const run = await h.client().start('three', 1, { queue });
      expect(await h.client().result(run.id)).toBe(4);
      const { run: row, steps } = await writers(run.id);
      expect(row.status).toBe('COMPLETED');
      expect(steps.map((s) => [s.step_id, s.status, s.output])).toEqual([
        ['a', 'COMPLETED', '2'],
        ['b', 'COMPLETED', '3'],
        ['c', 'COMPLETED', '4'],
      ]);
      // The last step and the run's completion: one transaction. Earlier steps: their own.
      expect(steps[2]!.xid).toBe(row.xid);
      expect(steps[0]!.xid).not.toBe(row.xid);
      expect(steps[1]!.xid).not.toBe(row.xid);
    } finally {
      await worker.stop();
    }
  });

  test('a step completed before the workflow fails is recorded, and the retry replays it', async () => {
    const queue = h.unique('fail-after');
    const worker = h.worker({ queue });
    let charges = 0;
    worker.register('charge-then-fail', async (ctx) => {
      const receipt = await ctx.step('charge', () => ++charges);
      if (ctx.attempt === 1) throw new Error('shipping service down');
      return receipt;
    });
    await worker.start();
    try {
      const run = await h.client().start('charge-then-fail', null, {
        queue,
        retry: { maxAttempts: 2, initialInterval: 10 },
      });
      expect(await h.client().result(run.id)).toBe(1);
      expect(charges).toBe(1);
      const steps = await h.client().steps(run.id);
      expect(steps.map((s) => [s.stepId, s.status])).toEqual([['charge', 'COMPLETED']]);
    } finally {
      await worker.stop();
    }
  });

  test('a step whose workflow then waits on other work is recorded without waiting for it', async () => {
    const queue = h.unique('io-after');
    const worker = h.worker({ queue });
    const gate = deferred();
    worker.register('step-then-io', async (ctx) => {
      await ctx.step('first', () => 'done');
      await gate.promise; // I/O outside any step
      return 'ok';
    });
    await worker.start();
    try {
      const run = await h.client().start('step-then-io', null, { queue });
      // Recorded while the handler still waits: a crash now would not run the step again.
      await waitFor(
        async () => (await writers(run.id)).steps.some((s) => s.step_id === 'first' && s.status === 'COMPLETED'),
        'the first step recorded while the workflow waits',
      );
      expect((await writers(run.id)).run.status).toBe('RUNNING');
      gate.resolve();
      expect(await h.client().result(run.id)).toBe('ok');
    } finally {
      gate.resolve();
      await worker.stop();
    }
  });

  test('a run still held after the acknowledgement delay is acknowledged without the periodic heartbeat', async () => {
    const queue = h.unique('ack');
    const worker = h.worker({ queue });
    const gate = deferred();
    worker.register('slow', async () => {
      await gate.promise;
      return 'ok';
    });
    await worker.start();
    try {
      const run = await h.client().start('slow', null, { queue });
      await waitFor(
        async () =>
          (await h.query(`SELECT delivered FROM workflow_runs WHERE id = $1`, [run.id]))[0]?.delivered === true,
        'the held run acknowledged',
      );
      gate.resolve();
      expect(await h.client().result(run.id)).toBe('ok');
    } finally {
      gate.resolve();
      await worker.stop();
    }
  });

  describe('CompleteWorkflow with lastStep', () => {
    async function claimed(type: string) {
      const queue = h.unique('raw');
      const worker = await RawWorker.register(h, { queue, workflowTypes: [type] });
      rawWorkers.push(worker);
      const run = await h.client().start(type, null, { queue });
      const task = await worker.nextTask();
      return { worker, task, runId: run.id };
    }

    test('over HTTP: records the step and completes the run; a repeat finds the run finished', async () => {
      const { worker, task, runId } = await claimed('http-last');
      const res = await worker.completeWorkflow(task, 'out', { lastStep: { stepId: 'only', seq: 0, output: 7 } });
      expect(res.status).toBe(200);
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('COMPLETED');
      expect(steps.map((s) => [s.step_id, s.status, s.output, s.xid])).toEqual([['only', 'COMPLETED', '7', run.xid]]);
      const repeat = await worker.completeWorkflow(task, 'out', { lastStep: { stepId: 'only', seq: 0, output: 7 } });
      expect(repeat.status).toBe(409);
      expect(repeat.body.error.reason).toBe('RUN_TERMINAL');
    });

    test('a last step at a position another step holds is refused and changes nothing', async () => {
      const { worker, task, runId } = await claimed('conflict-last');
      expect((await worker.complete(task, 'first', 0, 1)).status).toBe(200);
      const res = await worker.completeWorkflow(task, 'out', { lastStep: { stepId: 'other', seq: 0, output: 2 } });
      expect(res.status).toBe(409);
      expect(res.body.error.reason).toBe('NON_DETERMINISTIC');
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('RUNNING');
      expect(steps.map((s) => [s.step_id, s.output])).toEqual([['first', '1']]);
    });

    test('bad lastStep fields are refused with the same field over HTTP and gRPC, before anything is stored', async () => {
      const { worker, task, runId } = await claimed('bad-last');
      const transport = new Transport(h.grpcAddress);
      const lease = { namespace: 'default', runId, workerId: worker.id, leaseEpoch: task.leaseEpoch };
      const cases: Array<[unknown, string]> = [
        [{ stepId: '', seq: 0 }, 'lastStep.stepId'],
        [{ stepId: 'x'.repeat(256), seq: 0 }, 'lastStep.stepId'],
        [{ stepId: 'ok', seq: -1 }, 'lastStep.seq'],
      ];
      try {
        for (const [lastStep, field] of cases) {
          const http = await worker.completeWorkflow(task, 'out', { lastStep });
          expect([http.status, http.body.error.code, http.body.error.field]).toEqual([400, 'INVALID_ARGUMENT', field]);
          const grpc = await transport.call('worker', 'CompleteWorkflow', { lease, output: undefined, lastStep }).then(
            () => null,
            (err: unknown) => err,
          );
          expect(grpc).toBeInstanceOf(BatonError);
          expect([(grpc as BatonError).code, (grpc as BatonError).field]).toEqual(['INVALID_ARGUMENT', field]);
        }
        const http = await worker.completeWorkflow(task, 'out', { lastStep: 'not an object' });
        expect([http.status, http.body.error.field]).toEqual([400, 'lastStep']);
        const tooBig = await worker.completeWorkflow(task, 'out', {
          lastStep: {
            stepId: 'big',
            seq: 0,
            outputBase64: Buffer.alloc(h.config.payloadLimitBytes + 1).toString('base64'),
          },
        });
        expect([tooBig.status, tooBig.body.error.field]).toEqual([413, 'lastStep.output']);
      } finally {
        transport.close();
      }
      const { run, steps } = await writers(runId);
      expect(run.status).toBe('RUNNING');
      expect(steps).toEqual([]);
    });
  });
});
