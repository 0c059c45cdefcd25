import type { WorkflowContext } from '@baton/sdk';
import { TestHarness } from '../index';

/** A step retry policy that parks the run only briefly, so a replay follows at once. */
const QUICK_RETRY = { retry: { maxAttempts: 3, initialIntervalMs: 100 } };

describe('2. Workflow execution', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  describe('2.1 happy path', () => {
    test('simple_workflow_completes_successfully', async () => {
      const queue = h.unique();
      const worker = h.worker({ queue });
      worker.register('hello', async () => 'done');
      await worker.start();
      const client = h.client();
      const run = await client.start('hello', undefined, { queue });
      await expect(client.result(run.id)).resolves.toBe('done');
      const stored = await client.get(run.id);
      expect(stored.status).toBe('COMPLETED');
      expect(stored.finishedAt).toBeInstanceOf(Date);
    });

    test('workflow_with_input_receives_correct_data', async () => {
      const queue = h.unique();
      const input = {
        orderId: 'ord-42',
        amount: 19.99,
        quantity: 3,
        negative: -7,
        big: Number.MAX_SAFE_INTEGER,
        paid: false,
        coupon: null,
        tags: ['gift', 'express'],
        address: { city: 'Zürich', lines: ['Bahnhofstrasse 1', ''], geo: { lat: 47.37, lon: 8.54 } },
        quoted: 'say "hi"\n\tand \\ leave',
        empty: {},
        none: [],
      };
      const received: unknown[] = [];
      const worker = h.worker({ queue });
      worker.register('take-order', async (_ctx, given: typeof input) => {
        received.push(given);
        // Work with the input as typed data, not as text: arithmetic and property access must hold.
        return { total: given.amount * given.quantity, city: given.address.city, firstTag: given.tags[0] };
      });
      await worker.start();

      const client = h.client();
      const run = await client.start('take-order', input, { queue });
      await expect(client.result(run.id)).resolves.toEqual({ total: 19.99 * 3, city: 'Zürich', firstTag: 'gift' });
      expect(received).toEqual([input]);
      // The run keeps the input it was started with.
      expect((await client.get(run.id)).input).toEqual(input);
    });

    test('workflow_output_stored_and_retrievable', async () => {
      const queue = h.unique();
      const output = { status: 'shipped', parcels: [{ id: 1, weightKg: 2.5 }], note: null, ok: true };
      const worker = h.worker({ queue });
      worker.register('ship', async () => output);
      await worker.start();

      const client = h.client();
      const run = await client.start('ship', { orderId: 'o-1' }, { queue });
      await expect(client.result(run.id)).resolves.toEqual(output);
      // Stop the worker: what follows is read back from storage, not from anything in memory.
      await worker.stop();

      expect((await client.get(run.id)).output).toEqual(output);
      const http = await h.http().get(`/v1/namespaces/default/workflows/${run.id}`).expect(200);
      expect(http.body).toMatchObject({ status: 'COMPLETED', output });
      const [row] = await h.query(`SELECT p.output, p.output_encoding FROM workflow_payloads p WHERE p.run_id = $1`, [
        run.id,
      ]);
      expect(row!.output_encoding).toBe('json');
      expect(JSON.parse(row!.output.toString('utf8'))).toEqual(output);
      // A second caller waiting for the result gets the same stored output.
      await expect(h.client().result(run.id)).resolves.toEqual(output);
    });

    test('workflow_context_preserved_across_steps', async () => {
      const queue = h.unique();
      const seen: Array<{ where: string; ctx: Record<string, unknown> }> = [];
      const snapshot = (where: string, ctx: WorkflowContext) =>
        seen.push({
          where,
          ctx: {
            runId: ctx.runId,
            workflowType: ctx.workflowType,
            namespace: ctx.namespace,
            queue: ctx.queue,
            attempt: ctx.attempt,
            correlationId: ctx.correlationId,
            traceId: ctx.traceId,
            aborted: ctx.signal.aborted,
          },
        });
      let confirmCalls = 0;
      const worker = h.worker({ queue });
      worker.register('checkout', async (ctx, input: { cart: number[] }) => {
        snapshot('handler', ctx);
        const reserved = await ctx.step('reserve', () => {
          snapshot('reserve', ctx);
          return { reservation: `res-${ctx.runId}`, total: input.cart.reduce((a, b) => a + b, 0) };
        });
        // The first attempt of this step fails: the run is parked and replayed from the top,
        // so the rest of the workflow runs in a fresh execution with a new lease.
        const confirmed = await ctx.step(
          'confirm',
          () => {
            snapshot('confirm', ctx);
            if (++confirmCalls === 1) throw new Error('payment gateway busy');
            return `${reserved.reservation}:${reserved.total}`;
          },
          QUICK_RETRY,
        );
        snapshot('end', ctx);
        return { reserved, confirmed };
      });
      await worker.start();

      const client = h.client();
      const run = await client.start(
        'checkout',
        { cart: [5, 7] },
        { queue, correlationId: 'corr-1', traceId: 'trace-1' },
      );
      const result = await client.result(run.id);

      // Data produced by one step is what the next step (and the replay) works with.
      expect(result).toEqual({ reserved: { reservation: `res-${run.id}`, total: 12 }, confirmed: `res-${run.id}:12` });
      // Two executions: the first stopped at 'confirm', the replay finished; 'reserve' ran once.
      expect(seen.map((s) => s.where)).toEqual(['handler', 'reserve', 'confirm', 'handler', 'confirm', 'end']);
      const expected = {
        runId: run.id,
        workflowType: 'checkout',
        namespace: 'default',
        queue,
        attempt: 1, // a step retry is not a run attempt (DESIGN §13)
        correlationId: 'corr-1',
        traceId: 'trace-1',
        aborted: false,
      };
      for (const s of seen) expect({ where: s.where, ...s.ctx }).toEqual({ where: s.where, ...expected });
    });
  });
});
