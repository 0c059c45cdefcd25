import {
  ChildWorkflowCancelledError,
  ChildWorkflowFailedError,
  WorkflowCancelledError,
  WorkflowFailedError,
} from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';

/** Runs fail on their first error unless a test says otherwise. */
const NO_RETRY = { maxAttempts: 1 };

class OutOfStockError extends Error {
  override name = 'OutOfStockError';
}

async function rejection(promise: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(promise).then(
    (value) => new Error(`expected a rejection, got ${JSON.stringify(value)}`),
    (err: unknown) => err,
  );
}

describe('Child workflows (ctx.child)', () => {
  let h: TestHarness;

  beforeAll(async () => {
    h = await TestHarness.start();
  });

  afterAll(async () => {
    await h?.stop();
  });

  const runRow = async (id: string) => (await h.query(`SELECT * FROM workflow_runs WHERE id = $1`, [id]))[0]!;
  const childrenOf = (id: string) =>
    h.query<{ id: string; status: string; parent_step_id: string }>(
      `SELECT id, status, parent_step_id FROM workflow_runs WHERE parent_run_id = $1 ORDER BY created_at`,
      [id],
    );

  test('child_workflow_result_returned_to_parent', async () => {
    const queue = h.unique();
    // One slot: had the parent kept its slot while it waits, the child could never run.
    const worker = h.worker({ queue, maxConcurrent: 1 });
    const childRunning = deferred<string>();
    const release = deferred();
    worker.register('quote', async (ctx, input: { items: number }) => {
      childRunning.resolve(ctx.runId);
      await release.promise;
      return { total: input.items * 21 };
    });
    worker.register('order', async (ctx, input: { items: number }) => {
      const quote = ctx.child<{ total: number }>('quote', input);
      const childId = await quote.runId;
      const { total } = await quote;
      return { total, childId };
    });
    await worker.start();

    const client = h.client();
    const parent = await client.start('order', { items: 2 }, { queue, retry: NO_RETRY });
    const childId = await childRunning.promise;

    // While the child runs, the parent is parked until woken: no owner, no lease, no slot.
    const parked = await runRow(parent.id);
    expect(parked.status).toBe('SLEEPING');
    expect(parked.locked_by).toBeNull();
    expect(parked.lease_token).toBeNull();
    expect((await client.get(parent.id)).wakeUpAt).toBeNull();
    const child = await client.get(childId);
    expect(child.status).toBe('RUNNING');
    expect(child.parentRunId).toBe(parent.id);
    expect(child.parentStepId).toBe('child:quote#1');
    expect(child.queue).toBe(queue);
    expect(child.input).toEqual({ items: 2 });

    release.resolve();
    expect(await client.result(parent.id, { timeout: '20s' })).toEqual({ total: 42, childId });

    // The parent's history holds the CHILD step with the child's id and output; the child lists under it.
    const steps = await client.steps(parent.id);
    expect(steps).toEqual([
      expect.objectContaining({
        stepId: 'child:quote#1',
        kind: 'CHILD',
        status: 'COMPLETED',
        childRunId: childId,
        output: { total: 42 },
      }),
    ]);
    const listed = await client.list({ parentRunId: parent.id });
    expect(listed.runs.map((r) => r.id)).toEqual([childId]);
    const http = await h.http().get(`/v1/namespaces/default/workflows?parentRunId=${parent.id}`).expect(200);
    expect(http.body.runs.map((r: { id: string; parentRunId: string }) => [r.id, r.parentRunId])).toEqual([
      [childId, parent.id],
    ]);
    expect((await client.get(parent.id)).parentRunId).toBeNull();
  });

  test('child_workflow_failure_surfaces_in_parent', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    const cancelMe = deferred<string>();
    worker.register('reserve', async (_ctx, input: { sku: string }) => {
      throw new OutOfStockError(`no stock left for ${input.sku}`);
    });
    worker.register('hold', async (ctx) => {
      cancelMe.resolve(ctx.runId);
      await ctx.sleep('hold', '1h');
    });
    worker.register('checkout', async (ctx, input: { sku: string }) => {
      try {
        await ctx.child('reserve', input, { retry: NO_RETRY });
        return { caught: null };
      } catch (err) {
        const failed = err as ChildWorkflowFailedError;
        return {
          caught: failed instanceof ChildWorkflowFailedError && !(failed instanceof ChildWorkflowCancelledError),
          message: failed.message,
          errorType: failed.errorType,
          childRunId: failed.childRunId,
        };
      }
    });
    worker.register('checkout-uncaught', async (ctx, input: { sku: string }) => {
      await ctx.child('reserve', input, { retry: NO_RETRY });
      return 'unreachable';
    });
    worker.register('checkout-held', async (ctx) => {
      try {
        await ctx.child('hold', null);
        return 'completed';
      } catch (err) {
        return { cancelled: err instanceof ChildWorkflowCancelledError, message: (err as Error).message };
      }
    });
    await worker.start();
    const client = h.client();

    // Caught: the typed error carries the child's message, error type and run id.
    const caught = await client.start('checkout', { sku: 'A-1' }, { queue, retry: NO_RETRY });
    const outcome = (await client.result(caught.id, { timeout: '20s' })) as Record<string, unknown>;
    const [failedChild] = await childrenOf(caught.id);
    expect(failedChild!.status).toBe('FAILED');
    expect(outcome).toEqual({
      caught: true,
      message: 'no stock left for A-1',
      errorType: 'OutOfStockError',
      childRunId: failedChild!.id,
    });

    // Uncaught: it fails the parent with the child's message and type, without a workflow retry.
    const uncaught = await client.start('checkout-uncaught', { sku: 'B-2' }, { queue });
    const err = await rejection(client.result(uncaught.id, { timeout: '20s' }));
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).message).toBe('no stock left for B-2');
    expect((err as WorkflowFailedError).errorType).toBe('OutOfStockError');
    const parentRow = await runRow(uncaught.id);
    expect(parentRow.attempt).toBe(1);
    expect(parentRow.error_non_retryable).toBe(true);

    // A child cancelled on its own wakes its parent, which sees a cancelled-child error.
    const held = await client.start('checkout-held', null, { queue, retry: NO_RETRY });
    const holdId = await cancelMe.promise;
    await waitFor(async () => (await runRow(held.id)).status === 'SLEEPING', 'the parent to park');
    await client.cancel(holdId);
    expect(await client.result(held.id, { timeout: '20s' })).toEqual({
      cancelled: true,
      message: `child workflow run ${holdId} was cancelled`,
    });
  });

  test('child_start_idempotent_on_replay', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    const seen: string[] = [];
    let flakyCalls = 0;
    const release = deferred();
    worker.register('ship', async () => {
      await release.promise;
      return 'shipped';
    });
    worker.register('fulfil', async (ctx) => {
      const shipment = ctx.child<string>('ship', { box: 1 });
      seen.push(await shipment.runId);
      // Fails once after the child started: the run is parked for the retry and replayed from the top.
      await ctx.step(
        'notify',
        () => {
          flakyCalls += 1;
          if (flakyCalls === 1) throw new Error('mail server down');
          return 'sent';
        },
        { retry: { maxAttempts: 3, initialInterval: 10 } },
      );
      return { shipped: await shipment, childId: seen[seen.length - 1] };
    });
    await worker.start();

    const client = h.client();
    const parent = await client.start('fulfil', null, { queue, retry: NO_RETRY });
    // The replay after the step's retry asks for the child again: it gets the same one.
    await waitFor(() => seen.length >= 2, 'the replay after the retried step');
    release.resolve();
    const result = (await client.result(parent.id, { timeout: '20s' })) as { shipped: string; childId: string };

    expect(flakyCalls).toBe(2);
    expect(new Set(seen).size).toBe(1);
    const children = await childrenOf(parent.id);
    expect(children).toEqual([{ id: seen[0], status: 'COMPLETED', parent_step_id: 'child:ship#1' }]);
    expect(result).toEqual({ shipped: 'shipped', childId: seen[0] });
    expect((await client.steps(parent.id)).filter((s) => s.kind === 'CHILD')).toEqual([
      expect.objectContaining({ stepId: 'child:ship#1', status: 'COMPLETED', childRunId: seen[0], output: 'shipped' }),
    ]);
  });

  test('a parent whose worker stopped after the child start is replayed elsewhere and finds the same child', async () => {
    const queue = h.unique();
    const childIds: string[] = [];
    const parentSawChild = deferred();
    const release = deferred();
    const register = (worker: ReturnType<TestHarness['worker']>, blockParent: boolean) => {
      worker.register('leaf', async () => {
        await release.promise;
        return 'leaf done';
      });
      worker.register('root', async (ctx: WorkflowContext) => {
        const leaf = ctx.child<string>('leaf', null, { queue: `${queue}-leaf` });
        childIds.push(await leaf.runId);
        if (blockParent) {
          parentSawChild.resolve();
          // Held here until the worker stops: the run is handed back, not failed.
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          return 'stopped';
        }
        return leaf;
      });
    };
    const first = h.worker({ queue });
    register(first, true);
    await first.start();
    const leafWorker = h.worker({ queue: `${queue}-leaf` });
    register(leafWorker, false);
    await leafWorker.start();

    const client = h.client();
    const parent = await client.start('root', null, { queue, retry: NO_RETRY });
    await parentSawChild.promise;
    await first.stop();

    const second = h.worker({ queue });
    register(second, false);
    await second.start();
    await waitFor(() => childIds.length >= 2, 'the replay on the second worker');
    release.resolve();
    expect(await client.result(parent.id, { timeout: '20s' })).toBe('leaf done');
    expect(new Set(childIds).size).toBe(1);
    expect((await childrenOf(parent.id)).map((c) => c.id)).toEqual([childIds[0]]);
  });

  test('parent_cancel_cancels_children', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    const grandchildStarted = deferred<string>();
    const grandchildAborted = deferred<string>();
    const keeperStarted = deferred<string>();
    const releaseKeeper = deferred();
    worker.register('leaf', async (ctx) => {
      await ctx.sleep('nap', '1h');
    });
    worker.register('busy-leaf', async (ctx) => {
      grandchildStarted.resolve(ctx.runId);
      // Holds its slot until told to stop: a cancelled descendant's worker must be told.
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          grandchildAborted.resolve(String(ctx.signal.reason?.constructor?.name));
          resolve();
        }),
      );
    });
    worker.register('middle', async (ctx) => {
      await ctx.child('busy-leaf', null);
    });
    worker.register('keeper', async (ctx) => {
      keeperStarted.resolve(ctx.runId);
      await releaseKeeper.promise;
      return 'kept';
    });
    worker.register('saga', async (ctx) => {
      await Promise.all([
        ctx.child('middle', null),
        ctx.child('leaf', null),
        ctx.child('keeper', null, { cancelWithParent: false }),
      ]);
    });
    await worker.start();

    const client = h.client();
    const parent = await client.start('saga', null, { queue, retry: NO_RETRY });
    const grandchildId = await grandchildStarted.promise;
    const keeperId = await keeperStarted.promise;
    const children = await waitFor(async () => {
      const rows = await childrenOf(parent.id);
      return rows.length === 3 && (await runRow(parent.id)).status === 'SLEEPING' ? rows : null;
    }, 'three children and the parent parked');
    const byStep = new Map(children.map((c) => [c.parent_step_id, c.id]));
    const middleId = byStep.get('child:middle#1')!;
    const leafId = byStep.get('child:leaf#1')!;
    expect(byStep.get('child:keeper#1')).toBe(keeperId);
    await waitFor(async () => (await runRow(leafId)).status === 'SLEEPING', 'the leaf to sleep');
    expect((await runRow(grandchildId)).parent_run_id).toBe(middleId);

    const cancelled = await client.cancel(parent.id);
    expect(cancelled.run.status).toBe('CANCELLED');

    // The cancel took the children and the grandchild with it, in the same transaction.
    for (const id of [middleId, leafId, grandchildId]) expect((await runRow(id)).status).toBe('CANCELLED');
    // Each one's waiters answer and its worker stops it.
    expect(await rejection(client.result(grandchildId, { timeout: '10s' }))).toBeInstanceOf(WorkflowCancelledError);
    expect(await grandchildAborted.promise).toBe('CancelledError');
    // Recorded in each descendant's history, naming the parent that went.
    const history = await h.query(`SELECT run_id, action, reason FROM run_history WHERE run_id = $1`, [grandchildId]);
    expect(history).toEqual([
      { run_id: grandchildId, action: 'CANCELLED', reason: `parent run ${parent.id} was cancelled` },
    ]);

    // The child started with cancelWithParent false runs on and completes.
    expect((await runRow(keeperId)).status).toBe('RUNNING');
    releaseKeeper.resolve();
    expect(await client.result(keeperId, { timeout: '20s' })).toBe('kept');
    expect((await runRow(parent.id)).status).toBe('CANCELLED');
  });

  test('a child started with an externalId a live run holds fails that child alone', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('solo', async (ctx) => {
      await ctx.sleep('wait', '1h');
    });
    worker.register('starter', async (ctx) => {
      try {
        await ctx.child('solo', null, { externalId: 'taken-key' });
        return 'started';
      } catch (err) {
        return { refused: (err as { code?: string }).code };
      }
    });
    await worker.start();
    const client = h.client();
    const holder = await client.start('solo', null, { queue, externalId: 'taken-key' });
    const parent = await client.start('starter', null, { queue, retry: NO_RETRY });
    expect(await client.result(parent.id, { timeout: '20s' })).toEqual({ refused: 'ALREADY_EXISTS' });
    expect(await childrenOf(parent.id)).toEqual([]);
    await client.cancel(holder.id);
  });

  test('ctx.child refuses malformed options before anything is started', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('bad-options', async (ctx) => {
      ctx.child('x', null, { queeu: 'typo' } as never);
    });
    await worker.start();
    const client = h.client();
    const run = await client.start('bad-options', null, { queue, retry: NO_RETRY });
    const err = await rejection(client.result(run.id, { timeout: '20s' }));
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as Error).message).toContain('queeu');
    expect(await childrenOf(run.id)).toEqual([]);
  });
});
