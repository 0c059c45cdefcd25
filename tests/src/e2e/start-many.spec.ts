import { BatonError, ErrorCode, LIMITS } from '@baton/contracts';
import { Transport } from '@baton/sdk';
import type { StartRequest } from '@baton/proto';
import { TestHarness } from '../index';

/**
 * StartMany: several starts in one call, each with the outcome a lone Start
 * of it would have had. The SDK's client sends concurrent starts this way.
 */
describe('start many', () => {
  let h: TestHarness;
  let transport: Transport;

  beforeAll(async () => {
    h = await TestHarness.start();
    transport = new Transport(h.grpcAddress);
  });

  afterAll(async () => {
    transport?.close();
    await h?.stop();
  });

  const runsOf = (queue: string) =>
    h.query(
      `SELECT id, external_id, status, xmin::text AS xid FROM workflow_runs WHERE task_queue = $1 ORDER BY external_id`,
      [queue],
    );

  test('start_many_starts_each_and_fails_each_bad_item_alone', async () => {
    const queue = h.unique('many');
    const item = (fields: Partial<StartRequest>): StartRequest => ({
      namespace: 'default',
      workflowType: 'wf',
      queue,
      input: { data: Buffer.from('{"n":1}'), encoding: 'json' },
      ...fields,
    });
    const tooLong = 'x'.repeat(LIMITS.nameBytes + 1);
    const lone = await transport.call('workflow', 'Start', item({ workflowType: tooLong })).catch((e: unknown) => e);
    expect(lone).toBeInstanceOf(BatonError);

    const { outcomes } = await transport.call('workflow', 'StartMany', {
      starts: [
        item({ externalId: 'a' }),
        item({ workflowType: tooLong, externalId: 'bad' }),
        item({ externalId: 'b' }),
        item({ externalId: 'b' }),
      ],
    });
    expect(outcomes).toHaveLength(4);
    const [a, bad, b, again] = outcomes!;
    expect(a!.started!.run!.externalId).toBe('a');
    expect(a!.started!.alreadyExists).toBe(false);
    // The refused item carries exactly the error the lone Start met.
    expect(bad!.started).toBeUndefined();
    expect(bad!.error).toEqual({
      code: ErrorCode.INVALID_ARGUMENT,
      message: (lone as BatonError).message,
      field: 'workflowType',
      reason: '',
    });
    // Two items with one external id: the first starts the run, the second finds it.
    expect(b!.started!.alreadyExists).toBe(false);
    expect(again!.started!.alreadyExists).toBe(true);
    expect(again!.started!.run!.id).toBe(b!.started!.run!.id);

    const rows = await runsOf(queue);
    expect(rows.map((r) => [r.id, r.external_id, r.status])).toEqual([
      [a!.started!.run!.id, 'a', 'PENDING'],
      [b!.started!.run!.id, 'b', 'PENDING'],
    ]);
    // The call's runs were inserted by one statement: one transaction wrote both.
    expect(new Set(rows.map((r) => r.xid)).size).toBe(1);
  });

  test('start_many_refuses_too_many_or_no_starts', async () => {
    const queue = h.unique('many-limit');
    const starts = Array.from({ length: LIMITS.startManyItems + 1 }, (_, i) => ({
      namespace: 'default',
      workflowType: 'wf',
      queue,
      externalId: `k${i}`,
    }));
    await expect(transport.call('workflow', 'StartMany', { starts })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'starts',
      message: expect.stringContaining(`at most ${LIMITS.startManyItems}`),
    });
    await expect(transport.call('workflow', 'StartMany', { starts: [] })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'starts',
    });
    expect(await runsOf(queue)).toEqual([]);
    // At the limit, every one starts.
    const { outcomes } = await transport.call('workflow', 'StartMany', { starts: starts.slice(1) });
    expect(outcomes!.every((o) => o.started?.alreadyExists === false)).toBe(true);
    expect(await runsOf(queue)).toHaveLength(LIMITS.startManyItems);
  });

  test('concurrent_client_starts_each_get_their_own_outcome', async () => {
    const queue = h.unique('many-sdk');
    const client = h.client();
    // Concurrent: all but the first wait for the first call and go as StartMany.
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client
          .start('double', i, { queue: i === 17 ? 'q'.repeat(LIMITS.nameBytes + 1) : queue, externalId: `n${i % 39}` })
          .catch((err: unknown) => err),
      ),
    );
    const refused = outcomes[17];
    expect(refused).toBeInstanceOf(BatonError);
    expect(refused).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, field: 'queue' });
    // Item 39 shares item 0's external id: the same run, found rather than started again.
    const started = outcomes.filter((_, i) => i !== 17) as Array<{ id: string; alreadyExists: boolean }>;
    expect(started.filter((s) => s.alreadyExists).map((s) => s.id)).toEqual([started[0]!.id]);
    // Started before any worker exists, so the run item 0 started is still live when item 39 arrives.
    const worker = h.worker({ queue });
    worker.register('double', async (ctx, n: number) => ctx.step('double', () => n * 2));
    await worker.start();
    const results = await Promise.all(
      outcomes.map((o, i) => (i === 17 || i === 39 ? null : client.result((o as { id: string }).id))),
    );
    results.forEach((value, i) => {
      if (i !== 17 && i !== 39) expect(value).toBe(i * 2);
    });
    expect(await runsOf(queue)).toHaveLength(38);
    await worker.stop();
  });
});
