import { Client as PgClient } from 'pg';
import { BatonError, Client } from '@baton/sdk';
import type { Worker, WorkflowContext } from '@baton/sdk';
import { TestHarness, deferred, waitFor } from '../index';
import { expectNoOwnerlessRunningRuns } from '../harness/assertions';
import { RawWorker } from '../harness/protocol';
import type { RawTask } from '../harness/protocol';

/** Signals (issue 11 item 1): client.signal → ctx.waitForSignal, on the real PostgreSQL and NATS. */

/** Long enough for any wake here; a lost wake fails the test with its own message. */
const WITHIN = { timeout: '15s' };

async function runRow(h: TestHarness, id: string) {
  const [row] = await h.query(
    `SELECT *, available_at = 'infinity' AS until_woken, wake_up_at < now() AS wake_passed FROM workflow_runs WHERE id = $1`,
    [id],
  );
  return row!;
}

async function stepRow(h: TestHarness, runId: string, stepId: string) {
  const [row] = await h.query(`SELECT * FROM step_runs WHERE run_id = $1 AND step_id = $2`, [runId, stepId]);
  return row;
}

/** The run parked on wait `stepId` (SLEEPING, the step RUNNING) with its worker's slot free. */
async function parkedOn(h: TestHarness, runId: string, stepId: string, worker: Worker) {
  const row = await waitFor(async () => {
    const run = await runRow(h, runId);
    const step = await stepRow(h, runId, stepId);
    return run.status === 'SLEEPING' && step?.status === 'RUNNING' ? run : null;
  }, `run ${runId} to park on ${stepId}`);
  await waitFor(() => worker.activeCount === 0, 'the worker to let go of the parked run');
  return row;
}

/** The run's signals in send order: name, JSON payload, the wait that took it. */
async function signalsOf(h: TestHarness, runId: string) {
  const rows = await h.query(
    `SELECT name, convert_from(payload, 'UTF8') AS payload, consumed_by_step FROM run_signals WHERE run_id = $1 ORDER BY id`,
    [runId],
  );
  return rows.map((r) => [r.name, r.payload === null ? null : JSON.parse(r.payload), r.consumed_by_step]);
}

/*
 * Test-only gates to make a wait and a send overlap for certain: a row trigger
 * holds the next insert of a run's parked SIGNAL step (status RUNNING) or of
 * its signal inside its statement (snapshot taken, rows written, nothing
 * committed) until the test opens the gate: it waits for an advisory lock a
 * session of the test holds.
 */
async function installSignalGates(h: TestHarness): Promise<void> {
  await h.query(`CREATE TABLE test_signal_gates (run_id uuid NOT NULL, tbl text NOT NULL, lock_key bigint NOT NULL)`);
  await h.query(`
    CREATE FUNCTION test_signal_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE gate bigint;
    BEGIN
      SELECT g.lock_key INTO gate FROM test_signal_gates g WHERE g.run_id = NEW.run_id AND g.tbl = TG_TABLE_NAME;
      IF gate IS NULL THEN
        RETURN NULL;
      END IF;
      -- Of the step rows, only a parked wait's (to_jsonb: run_signals has no kind).
      IF TG_TABLE_NAME = 'step_runs' AND (to_jsonb(NEW) ->> 'kind' <> 'SIGNAL' OR to_jsonb(NEW) ->> 'status' <> 'RUNNING') THEN
        RETURN NULL;
      END IF;
      PERFORM pg_advisory_xact_lock_shared(gate);
      RETURN NULL;
    END $$`);
  for (const table of ['step_runs', 'run_signals']) {
    await h.query(
      `CREATE TRIGGER test_signal_gate AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION test_signal_gate()`,
    );
  }
}

let nextGateKey = 0x7369_676e_0000; // "sign"

/** Closes a gate on the next insert into `table` for `runId`; resolves with the gate's handle. */
async function closeGate(h: TestHarness, runId: string, table: 'step_runs' | 'run_signals') {
  const key = nextGateKey++;
  const session = new PgClient({ connectionString: h.config.databaseUrl });
  session.on('error', () => undefined);
  await session.connect();
  await session.query('SELECT pg_advisory_lock($1)', [key]);
  await h.query(`INSERT INTO test_signal_gates (run_id, tbl, lock_key) VALUES ($1, $2, $3)`, [runId, table, key]);
  /** The backend held at the gate, once one is. */
  const held = () =>
    waitFor(
      async () => {
        const [row] = await h.query<{ pid: number }>(
          `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted
             AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
          [key],
        );
        return row?.pid ?? null;
      },
      `an insert into ${table} to reach its gate`,
      { intervalMs: 10 },
    );
  const open = async () => {
    await h.query(`DELETE FROM test_signal_gates WHERE lock_key = $1`, [key]);
    await session.query('SELECT pg_advisory_unlock($1)', [key]);
    await session.end();
  };
  return { held, open };
}

/** Whether a statement waits for a row lock that backend `pid` holds. */
async function blockedBy(h: TestHarness, pid: number): Promise<boolean> {
  const rows = await h.query(
    `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
       AND $1 = ANY (pg_blocking_pids(pid)) AND query LIKE '%FOR NO KEY UPDATE%'`,
    [pid],
  );
  return rows.length > 0;
}

async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  const err = await promise.then(
    () => new Error('expected a rejection'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BatonError);
  return err as BatonError;
}

describe('signals', () => {
  let h: TestHarness;
  let client: Client;

  beforeAll(async () => {
    h = await TestHarness.start();
    client = h.client();
  });

  afterAll(() => h?.stop());

  test('signal_delivered_to_waiting_run', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('approval', async (ctx) => {
      const before = await ctx.step('before', () => 'asked');
      const answer = await ctx.waitForSignal<{ ok: boolean }>('approve');
      return { before, answer };
    });
    worker.register('approval-with-timeout', async (ctx) => ctx.waitForSignal('approve', { timeout: '1h' }));
    await worker.start();

    const run = await client.start('approval', undefined, { queue });
    const parked = await parkedOn(h, run.id, 'signal:approve#1', worker);
    // No timeout: parked until woken, never due by time, holding no lease.
    expect(parked.until_woken).toBe(true);
    expect(parked.locked_by).toBeNull();
    expect((await stepRow(h, run.id, 'signal:approve#1'))!).toMatchObject({ kind: 'SIGNAL', signal_name: 'approve' });
    expect(await client.queueStats(queue)).toMatchObject({ pending: 0, running: 0, sleeping: 1 });
    const view = await client.get(run.id);
    expect(view.status).toBe('SLEEPING');
    expect(view.wakeUpAt).toBeNull();

    await expect(client.signal(run.id, 'approve', { ok: true })).resolves.toEqual({ runId: run.id });
    await expect(client.result(run.id, WITHIN)).resolves.toEqual({ before: 'asked', answer: { ok: true } });
    expect(await signalsOf(h, run.id)).toEqual([['approve', { ok: true }, 'signal:approve#1']]);
    const steps = await client.steps(run.id);
    expect(steps.map((s) => [s.stepId, s.kind, s.status, s.output])).toEqual([
      ['before', 'FUNCTION', 'COMPLETED', 'asked'],
      ['signal:approve#1', 'SIGNAL', 'COMPLETED', { ok: true }],
    ]);

    // With a timeout: parked until then (a timer wakes it), and a signal wakes it long before.
    const timed = await client.start('approval-with-timeout', undefined, { queue });
    const row = await parkedOn(h, timed.id, 'signal:approve#1', worker);
    expect(row.until_woken).toBe(false);
    expect(row.available_at.getTime()).toBe(row.wake_up_at.getTime());
    expect(row.wake_up_at.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    await client.signal(timed.id, 'approve', 'yes');
    await expect(client.result(timed.id, WITHIN)).resolves.toBe('yes');
    await expectNoOwnerlessRunningRuns(h, { queue });
  });

  test('signal_sent_before_wait_is_buffered', async () => {
    const queue = h.unique();
    const gateEntered = deferred();
    const gate = deferred();
    const worker = h.worker({ queue });
    worker.register('gated', async (ctx) => {
      await ctx.step('gate', async () => {
        gateEntered.resolve();
        await gate.promise;
      });
      return ctx.waitForSignal('go');
    });
    worker.register('plain', async (ctx) => ctx.waitForSignal('go'));

    // Sent while the run is still PENDING (no worker yet)...
    const early = await client.start('plain', undefined, { queue });
    await client.signal(early.id, 'go', 'before any worker');
    await worker.start();
    await expect(client.result(early.id, WITHIN)).resolves.toBe('before any worker');

    // ...and while it runs a step before the wait.
    const run = await client.start('gated', undefined, { queue });
    await gateEntered.promise;
    await client.signal(run.id, 'go', 'while running');
    gate.resolve();
    await expect(client.result(run.id, WITHIN)).resolves.toBe('while running');
    // Taken at the wait itself: neither run ever parked (one claim each).
    for (const id of [early.id, run.id]) expect((await runRow(h, id)).claims).toBe(1);
    expect(await signalsOf(h, run.id)).toEqual([['go', 'while running', 'signal:go#1']]);
  });

  test('signals_delivered_in_order_exactly_once', async () => {
    const queue = h.unique();
    const bodies = new Map<string, number>();
    const handler = async (ctx: WorkflowContext) => {
      const got: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const item = await ctx.waitForSignal<string>('item');
        // Each body counts its runs: a completed step never runs again, whatever replays it.
        got.push(await ctx.step(`got-${i}`, () => (bodies.set(`got-${i}`, (bodies.get(`got-${i}`) ?? 0) + 1), item)));
        // A sleep parks the run: the next claim replays every wait before it from history.
        if (i === 0) await ctx.sleep('nap', 10);
      }
      return got;
    };
    const first = h.worker({ queue });
    first.register('collector', handler);

    // Two sent before the run ever executes, one more name that no wait takes.
    const run = await client.start('collector', undefined, { queue });
    await client.signal(run.id, 'item', 'a');
    await client.signal(run.id, 'other', 'not for item');
    await client.signal(run.id, 'item', 'b');
    await first.start();

    // a, b taken (with a replay in between); the third wait parks. The worker goes away.
    await parkedOn(h, run.id, 'signal:item#3', first);
    await first.stop();
    await client.signal(run.id, 'item', 'c');
    await client.signal(run.id, 'item', 'd');

    // A new worker replays all of it: the first two waits from history, the third takes c.
    const second = h.worker({ queue });
    second.register('collector', handler);
    await second.start();
    await expect(client.result(run.id, WITHIN)).resolves.toEqual(['a', 'b', 'c']);
    expect(Object.fromEntries(bodies)).toEqual({ 'got-0': 1, 'got-1': 1, 'got-2': 1 });
    expect(await signalsOf(h, run.id)).toEqual([
      ['item', 'a', 'signal:item#1'],
      ['other', 'not for item', null],
      ['item', 'b', 'signal:item#2'],
      ['item', 'c', 'signal:item#3'],
      ['item', 'd', null],
    ]);
    // Parked at least twice (the sleep, the third wait): each wake was a replay.
    expect((await runRow(h, run.id)).claims).toBeGreaterThanOrEqual(3);
  });

  test('wait_for_signal_times_out_with_null', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('impatient', async (ctx) => ctx.waitForSignal('never', { timeout: 300 }));
    const late = async (ctx: WorkflowContext) => {
      const first = await ctx.waitForSignal('late', { timeout: '1s' });
      const second = await ctx.waitForSignal('late');
      return { first, second };
    };
    worker.register('late', late);
    await worker.start();

    const impatient = await client.start('impatient', undefined, { queue });
    await expect(client.result(impatient.id, WITHIN)).resolves.toBeNull();

    // Parked with a 1 s timeout; the worker goes away until the timeout has passed.
    const run = await client.start('late', undefined, { queue });
    await parkedOn(h, run.id, 'signal:late#1', worker);
    await worker.stop();
    await waitFor(async () => (await runRow(h, run.id)).wake_passed, 'the first wait to time out');
    // Sent after the timeout: not for that wait, even though no worker asked meanwhile.
    await client.signal(run.id, 'late', 'after the timeout');
    const next = h.worker({ queue });
    next.register('late', late);
    await next.start();
    await expect(client.result(run.id, WITHIN)).resolves.toEqual({ first: null, second: 'after the timeout' });
    const timedOut = await stepRow(h, run.id, 'signal:late#1');
    expect(timedOut).toMatchObject({ kind: 'SIGNAL', status: 'COMPLETED', output: null });
    expect(await signalsOf(h, run.id)).toEqual([['late', 'after the timeout', 'signal:late#2']]);
  });

  test('signal_to_terminal_run_rejected', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('quick', async () => 'done');
    worker.register('waiter', async (ctx) => ctx.waitForSignal('never'));
    await worker.start();
    const completed = await client.start('quick', undefined, { queue });
    await client.result(completed.id, WITHIN);
    const cancelled = await client.start('waiter', undefined, { queue });
    await parkedOn(h, cancelled.id, 'signal:never#1', worker);
    await client.cancel(cancelled.id);

    for (const [id, status] of [
      [completed.id, 'COMPLETED'],
      [cancelled.id, 'CANCELLED'],
    ] as const) {
      const err = await rejection(client.signal(id, 'late', { x: 1 }));
      expect([err.code, err.reason]).toEqual(['FAILED_PRECONDITION', 'SIGNAL_RUN_FINISHED']);
      expect(err.message).toContain(status);
      const res = await h.http().post(`/v1/namespaces/default/workflows/${id}/signals`).send({ name: 'late' });
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'SIGNAL_RUN_FINISHED' });
      expect(await signalsOf(h, id)).toEqual([]);
    }

    // A run that does not exist (or lives in another namespace) is not found.
    const unknown = '0190a5f0-0000-7000-8000-000000000000';
    expect((await rejection(client.signal(unknown, 'x'))).code).toBe('NOT_FOUND');
    expect((await rejection(h.client(h.unique('ns')).signal(completed.id, 'x'))).code).toBe('NOT_FOUND');
    expect(
      (await h.http().post(`/v1/namespaces/default/workflows/${unknown}/signals`).send({ name: 'x' })).status,
    ).toBe(404);
  });

  test('signal_by_external_id', async () => {
    const queue = h.unique();
    const externalId = `order ${h.unique()}`;
    const worker = h.worker({ queue });
    worker.register('order', async (ctx) => [await ctx.waitForSignal('paid'), await ctx.waitForSignal('shipped')]);
    await worker.start();
    const run = await client.start('order', undefined, { queue, externalId });

    await expect(client.signal({ externalId }, 'paid', { amount: 42 })).resolves.toEqual({ runId: run.id });
    const res = await h
      .http()
      .post('/v1/namespaces/default/signals')
      .send({ externalId, name: 'shipped', payload: 'box' });
    expect([res.status, res.body]).toEqual([200, { runId: run.id }]);
    await expect(client.result(run.id, WITHIN)).resolves.toEqual([{ amount: 42 }, 'box']);

    // The key now names no live run.
    expect((await rejection(client.signal({ externalId }, 'paid'))).code).toBe('NOT_FOUND');
    const gone = await h.http().post('/v1/namespaces/default/signals').send({ externalId, name: 'paid' });
    expect([gone.status, gone.body.error?.code]).toEqual([404, 'NOT_FOUND']);
  });

  test('signal_resent_with_same_request_id_stored_once', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('two', async (ctx) => [await ctx.waitForSignal('go'), await ctx.waitForSignal('go')]);
    const run = await client.start('two', undefined, { queue });

    // A caller's own retries (SDK, gRPC and HTTP alike) with one request id count once.
    await client.signal(run.id, 'go', 'first', { requestId: 'req-1' });
    await client.signal(run.id, 'go', 'first again', { requestId: 'req-1' });
    const http = await h
      .http()
      .post(`/v1/namespaces/default/workflows/${run.id}/signals`)
      .send({ name: 'go', payload: 'first over http', requestId: 'req-1' });
    expect([http.status, http.body]).toEqual([200, { runId: run.id }]);
    expect(await signalsOf(h, run.id)).toEqual([['go', 'first', null]]);
    // Another id is another signal; no id at all (an older client) too.
    await client.signal(run.id, 'go', 'second', { requestId: 'req-2' });
    await worker.start();
    await expect(client.result(run.id, WITHIN)).resolves.toEqual(['first', 'second']);

    // Repeated once the run has finished, a send that was stored still succeeds; a new one is refused.
    await expect(client.signal(run.id, 'go', 'late', { requestId: 'req-2' })).resolves.toEqual({ runId: run.id });
    const late = await rejection(client.signal(run.id, 'go', 'late', { requestId: 'req-3' }));
    expect(late.reason).toBe('SIGNAL_RUN_FINISHED');
    expect((await signalsOf(h, run.id)).map(([, payload]) => payload)).toEqual(['first', 'second']);

    const tooLong = await rejection(client.signal(run.id, 'go', null, { requestId: 'x'.repeat(201) }));
    expect([tooLong.code, tooLong.field]).toEqual(['INVALID_ARGUMENT', 'requestId']);
    expect(tooLong.message).toContain('200 bytes');
  });

  test('signal_whose_reply_is_lost_is_delivered_once', async () => {
    const queue = h.unique();
    const link = await h.proxy();
    const viaLink = new Client({ address: link.address, namespace: 'default' });
    const worker = h.worker({ queue });
    worker.register('once', async (ctx) => [
      await ctx.waitForSignal('go'),
      await ctx.waitForSignal('go', { timeout: '1s' }),
    ]);
    const run = await client.start('once', undefined, { queue });
    await viaLink.get(run.id); // the link's connection is up before its replies are dropped

    // The send reaches the server and is stored; its reply is thrown away, then the link breaks.
    const dropped = link.stats().droppedDown;
    link.dropReplies();
    const sent = viaLink.signal(run.id, 'go', 'exactly once');
    await waitFor(
      async () => (await signalsOf(h, run.id)).length === 1 && link.stats().droppedDown > dropped,
      'the signal to be stored and its reply dropped',
    );
    link.cut();
    await link.restore();
    // The SDK sends it again with the same request id: it succeeds, and nothing more is stored.
    await expect(sent).resolves.toEqual({ runId: run.id });
    expect(await signalsOf(h, run.id)).toEqual([['go', 'exactly once', null]]);

    // The run takes it once: its second wait times out with null.
    await worker.start();
    await expect(client.result(run.id, WITHIN)).resolves.toEqual(['exactly once', null]);
    viaLink.close();
    link.close();
  });

  test('signal_racing_the_park_is_never_lost', async () => {
    await installSignalGates(h);
    const queue = h.unique();
    const stepGate = deferred();
    const worker = h.worker({ queue });
    worker.register('parks', async (ctx) => ctx.waitForSignal('go'));
    worker.register('checks', async (ctx) => {
      // Not a step: nothing of the run is recorded before the wait.
      await stepGate.promise;
      return ctx.waitForSignal('go');
    });

    // A: the wait has found nothing and is parking (uncommitted) when the signal is sent.
    const parking = await client.start('parks', undefined, { queue });
    const parkGate = await closeGate(h, parking.id, 'step_runs');
    await worker.start();
    const worker1 = await parkGate.held();
    let sent = false;
    const sendingA = client.signal(parking.id, 'go', 'A').finally(() => (sent = true));
    // The send waits for the parking transaction (the run row lock); a send that did not would
    // miss the park, and the signal would never wake the run.
    await waitFor(async () => sent || (await blockedBy(h, worker1)), 'the send to meet the park');
    await parkGate.open();
    await sendingA;
    await expect(client.result(parking.id, WITHIN)).resolves.toBe('A');
    // It did park, and the signal woke it: a second claim took the signal.
    expect((await runRow(h, parking.id)).claims).toBe(2);

    // B: the signal is being stored (uncommitted) when the wait looks for it.
    const checking = await client.start('checks', undefined, { queue });
    await waitFor(async () => (await runRow(h, checking.id)).status === 'RUNNING', 'the run to start');
    const sendGate = await closeGate(h, checking.id, 'run_signals');
    const sendingB = client.signal(checking.id, 'go', 'B');
    const sender = await sendGate.held();
    stepGate.resolve();
    // The wait waits for the send; one that did not would park without seeing the signal.
    await waitFor(
      async () => (await blockedBy(h, sender)) || (await runRow(h, checking.id)).status === 'SLEEPING',
      'the wait to meet the send',
    );
    await sendGate.open();
    await sendingB;
    await expect(client.result(checking.id, WITHIN)).resolves.toBe('B');
    expect((await runRow(h, checking.id)).claims).toBe(1);

    // And many at once, each signal sent while its run starts, takes a step, or parks.
    const runs = await Promise.all(Array.from({ length: 30 }, (_, i) => client.start('parks', i, { queue })));
    await Promise.all(runs.map((run, i) => client.signal(run.id, 'go', i)));
    const results = await Promise.all(runs.map((run) => client.result(run.id, { timeout: '30s' })));
    expect(results).toEqual(runs.map((_, i) => i));
  });

  test('wait_for_signal_over_the_http_worker_protocol', async () => {
    const queue = h.unique();
    const worker = await RawWorker.register(h, { queue, workflowTypes: ['raw'] });
    const wait = (task: RawTask, body: object) =>
      h
        .http()
        .post(`/v1/namespaces/default/workflows/${task.runId}/wait-for-signal`)
        .send({ workerId: worker.id, leaseEpoch: task.leaseEpoch, leaseToken: task.leaseToken, ...body });
    try {
      const run = await client.start('raw', undefined, { queue });
      const first = await worker.nextTask();
      const parked = await wait(first, { stepId: 'w', seq: 0, name: 'go', timeout: '1h' });
      expect([parked.status, parked.body.suspended, typeof parked.body.wakeUpAt]).toEqual([200, true, 'string']);
      worker.release(first);
      // Parked: the lease went with it.
      const again = await wait(first, { stepId: 'w', seq: 0, name: 'go', timeout: '1h' });
      expect([again.status, again.body.error?.reason]).toEqual([409, 'LEASE_LOST']);

      await client.signal(run.id, 'go', { x: 1 });
      const second = await worker.nextTask();
      expect(second.history).toMatchObject([{ stepId: 'w', seq: 0, kind: 'SIGNAL', status: 'RUNNING' }]);
      for (let i = 0; i < 2; i++) {
        // Asked again (a lost reply): the same answer, from the step's record.
        const got = await wait(second, { stepId: 'w', seq: 0, name: 'go', timeoutMs: 3_600_000 });
        expect([got.status, got.body]).toEqual([200, { suspended: false, payload: { x: 1 }, timedOut: false }]);
      }
      const renamed = await wait(second, { stepId: 'w', seq: 0, name: 'other' });
      expect([renamed.status, renamed.body.error?.reason]).toEqual([409, 'NON_DETERMINISTIC']);
      expect((await worker.completeWorkflow(second, 'done')).status).toBe(200);
      await expect(client.result(run.id, WITHIN)).resolves.toBe('done');
    } finally {
      await worker.stop();
    }
  });

  test('signal_input_validated', async () => {
    const queue = h.unique();
    const worker = h.worker({ queue });
    worker.register('waiter', async (ctx) => ctx.waitForSignal('go'));
    await worker.start();
    const run = await client.start('waiter', undefined, { queue });
    const path = `/v1/namespaces/default/workflows/${run.id}/signals`;

    const cases: Array<[object, number, string]> = [
      [{}, 400, 'name'],
      [{ name: '' }, 400, 'name'],
      [{ name: 'x'.repeat(201) }, 400, 'name'],
      [{ name: 'go', payloadBase64: Buffer.alloc(2_097_153).toString('base64') }, 413, 'payload'],
      [{ name: 'go', extra: 1 }, 400, 'extra'],
    ];
    for (const [body, status, field] of cases) {
      const res = await h.http().post(path).send(body);
      expect([res.status, res.body.error?.field]).toEqual([status, field]);
    }
    const none = await rejection(client.signal({ externalId: '' }, 'go'));
    expect([none.code, none.field]).toEqual(['INVALID_ARGUMENT', 'runId']);
    const long = await rejection(client.signal(run.id, 'é'.repeat(101)));
    expect([long.code, long.field]).toEqual(['INVALID_ARGUMENT', 'name']);
    expect(await signalsOf(h, run.id)).toEqual([]);
    // The longest name is taken, and its default step id fits.
    const longest = 'n'.repeat(200);
    const maxed = h.worker({ queue: `${queue}-max` });
    maxed.register('long-name', async (ctx) => ctx.waitForSignal(longest));
    await maxed.start();
    const other = await client.start('long-name', undefined, { queue: `${queue}-max` });
    await client.signal(other.id, longest, 'ok');
    await expect(client.result(other.id, WITHIN)).resolves.toBe('ok');
  });
});
