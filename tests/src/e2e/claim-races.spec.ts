import { randomUUID } from 'node:crypto';
import { BatonError } from '@baton/sdk';
import { TestHarness, waitFor } from '../index';
import { claimsOf, installClaimAudit } from '../harness/claim-audit';
import { PollTap } from '../harness/poll-tap';
import { ProtocolWorker } from '../harness/protocol-worker';
import type { PolledTask } from '../harness/protocol-worker';
import {
  TransitionGate,
  installTransitionGates,
  transitionsOf,
  uninstallTransitionGates,
  waitingBackends,
} from '../harness/transition-gates';

const POLL_TIMEOUT_MS = 5_000;
/** Polls are not served this close to their deadline: wide, so a test can hit the window on purpose. */
const MARGIN_MS = 1_000;
/** These tests move hundreds of runs through a hundred pollers: a starved CPU makes them slow, not wrong. */
const LONG_TEST_MS = 150_000;
jest.setTimeout(LONG_TEST_MS);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A task from either transport, reduced to what the tests compare. */
function taskOf(raw: Partial<PolledTask> | undefined): PolledTask | null {
  if (!raw) return null;
  return {
    runId: raw.runId,
    namespace: raw.namespace,
    queue: raw.queue,
    workflowType: raw.workflowType,
    attempt: Number(raw.attempt),
    leaseEpoch: Number(raw.leaseEpoch),
    leaseToken: raw.leaseToken,
  } as PolledTask;
}

/** One poll over HTTP (even i) or gRPC (odd i). */
function pollEither(worker: ProtocolWorker, i: number, signal?: AbortSignal): Promise<PolledTask | null> {
  return i % 2 === 0
    ? worker.poll({ signal }).then((o) => {
        if (o.status !== 200) throw new Error(`poll answered ${o.status}: ${JSON.stringify(o.error)}`);
        return o.task;
      })
    : worker.grpcPoll({ signal }).then((res) => taskOf(res.task));
}

async function runRows(h: TestHarness, ids: string[]) {
  const rows = await h.query(
    `SELECT id, status, claims, lease_epoch, attempt, locked_by, error_type FROM workflow_runs WHERE id = ANY ($1::uuid[])`,
    [ids],
  );
  return new Map(rows.map((r) => [r.id as string, r]));
}

describe('5. Concurrency & race conditions', () => {
  let h: TestHarness;
  let tap: PollTap;

  beforeAll(async () => {
    h = await TestHarness.start({
      pollTimeoutSecs: POLL_TIMEOUT_MS / 1000,
      // Lease expiry, acknowledgement and staleness are not the subject of these tests, which count claims:
      // generous, so heartbeats that a starved CPU delays by seconds cannot expire a lease or declare a
      // worker gone under them. Where a claim must come back, the test waits for that explicitly.
      leaseDurationSecs: 30,
      claimAckTimeoutSecs: 15,
      workerStaleThresholdSecs: 30,
      overrides: { pollDeadlineMarginMs: MARGIN_MS },
    });
    await installClaimAudit(h);
    tap = await PollTap.start(h);
  });

  afterAll(async () => {
    ProtocolWorker.closeAll();
    await tap?.stop();
    await h?.stop();
  });

  const register = (queue: string, n: number, types = ['job']) =>
    Promise.all(
      range(n).map(async () => (await ProtocolWorker.register(h, { queue, workflowTypes: types })).keepAlive()),
    );

  describe('5.1 claim races', () => {
    test('concurrent_poll_same_workflow_only_one_claims', async () => {
      const client = h.client();

      // A: twenty workers are already waiting when the run appears.
      const waitingQueue = h.unique();
      const waiting = await register(waitingQueue, 20);
      const waitingPolls = waiting.map((w, i) => pollEither(w, i));
      await Promise.all(waiting.map((w) => tap.waitFor(w.id)));
      const run = await client.start('job', null, { queue: waitingQueue });

      // B: on five more queues, the run exists first and twenty polls hit it at once.
      const rounds = await Promise.all(
        range(5).map(async () => {
          const queue = h.unique();
          const workers = await register(queue, 20);
          const started = await client.start('job', null, { queue });
          return { workers, runId: started.id };
        }),
      );
      const burstPolls = rounds.map((r) => r.workers.map((w, i) => pollEither(w, i)));

      const cases = [
        { workers: waiting, runId: run.id, results: await Promise.all(waitingPolls) },
        ...(await Promise.all(
          rounds.map(async (r, k) => ({
            workers: r.workers,
            runId: r.runId,
            results: await Promise.all(burstPolls[k]!),
          })),
        )),
      ];
      const rows = await runRows(
        h,
        cases.map((c) => c.runId),
      );
      for (const c of cases) {
        const winners = c.results.flatMap((task, i) => (task ? [{ task, worker: c.workers[i]! }] : []));
        expect(winners).toHaveLength(1);
        const [{ task, worker }] = winners;
        expect(task.runId).toBe(c.runId);
        expect(rows.get(c.runId)).toMatchObject({ status: 'RUNNING', locked_by: worker.id, lease_epoch: 1, claims: 1 });
        expect(await claimsOf(h, { runIds: [c.runId] })).toHaveLength(1);
        // A loser cannot act on it, not even with the winner's lease token; the winner can.
        const loser = c.workers.find((w) => w !== worker)!;
        expect(await loser.complete(task)).toBe(409);
        expect(await worker.complete(task, 'won')).toBe(200);
      }
    });

    test('rapid_poll_burst_no_duplicate_claims', async () => {
      const queue = h.unique();
      const RUNS = 300;
      const workers = await register(queue, 10);
      const client = h.client();
      const delivered = new Map<string, number>();
      const completions: number[] = [];
      let done = false;
      let deliveries = 0;
      const loops = workers.flatMap((worker, w) =>
        range(8).map(async (l) => {
          while (!done) {
            const task = await pollEither(worker, w + l);
            if (!task) continue;
            deliveries++;
            delivered.set(task.runId, (delivered.get(task.runId) ?? 0) + 1);
            completions.push(await worker.complete(task, l));
            if (deliveries >= RUNS) done = true;
          }
        }),
      );
      const ids: string[] = [];
      for (let wave = 0; wave < 3; wave++) {
        const started = await Promise.all(range(RUNS / 3).map((n) => client.start('job', { wave, n }, { queue })));
        ids.push(...started.map((s) => s.id));
      }
      await waitFor(() => done, 'every run to be delivered', { timeoutMs: LONG_TEST_MS - 30_000 });
      await Promise.all(loops);
      expect(deliveries).toBe(RUNS);
      expect([...delivered.keys()].sort()).toEqual([...ids].sort());
      expect([...delivered.values()].every((n) => n === 1)).toBe(true);
      expect(completions.filter((s) => s !== 200)).toEqual([]);
      const [{ completed, single }] = await h.query(
        `SELECT count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
                count(*) FILTER (WHERE claims = 1 AND lease_epoch = 1 AND attempt = 1)::int AS single
         FROM workflow_runs WHERE task_queue = $1`,
        [queue],
      );
      expect({ completed, single }).toEqual({ completed: RUNS, single: RUNS });
      const audit = await claimsOf(h, { runIds: ids });
      expect(audit).toHaveLength(RUNS);
      expect(new Set(audit.map((c) => c.run_id)).size).toBe(RUNS);
    });

    test('claim_during_status_transition_handled', async () => {
      const client = h.client();
      await installTransitionGates(h);
      try {
        // Claim and cancel in flight at once, claim first: the claim statement has taken and updated the row
        // and is held before it commits; the cancel arrives and waits for that row. Both are seen waiting in
        // PostgreSQL before either may finish. Exactly one order can then commit: claimed, then cancelled.
        const q1 = h.unique();
        const w1 = await ProtocolWorker.register(h, { queue: q1, workflowTypes: ['job'] });
        const claimGate = await TransitionGate.close(h, q1, 'claim');
        // Started before the poll: a poll already waiting would get the run inside the start itself (eager
        // dispatch), with no claim statement for the gate to hold.
        const run = await client.start('job', null, { queue: q1 });
        const forwarded = tap.next(w1.id);
        const poll = w1.poll();
        const request = await forwarded;
        const claim = await claimGate.waitForHeld();
        let cancelAnswered = false;
        const cancel = client.cancel(run.id).finally(() => (cancelAnswered = true));
        const cancelWaiting = await waitFor(async () => {
          const waiting = await waitingBackends(h);
          return waiting.find((b) => b.blocked_by.includes(claim.pid) && /CANCELLED/.test(b.query));
        }, 'the cancel to wait for the row the claim holds');
        expect(cancelWaiting.wait_event_type).toBe('Lock');
        // Neither has committed: from outside the run is still as it was created.
        expect((await runRows(h, [run.id])).get(run.id)).toMatchObject({ status: 'PENDING', claims: 0 });
        expect(cancelAnswered).toBe(false);
        const openedAt = Date.now();
        await claimGate.open();

        const [polled, cancelled] = await Promise.all([poll, cancel]);
        expect(cancelled).toMatchObject({ alreadyCancelled: false, run: { status: 'CANCELLED' } });
        expect((await transitionsOf(h, [run.id])).map((t) => [t.from_status, t.to_status, t.backend_pid])).toEqual([
          ['PENDING', 'RUNNING', claim.pid],
          ['RUNNING', 'CANCELLED', cancelWaiting.pid],
        ]);
        expect(await claimsOf(h, { runIds: [run.id] })).toMatchObject([{ worker_id: w1.id, lease_epoch: 1 }]);
        if (polled.task) {
          // The claim reached its worker; the cancel, committed after it, wins over anything the worker does.
          expect(polled.task).toMatchObject({ runId: run.id, leaseEpoch: 1 });
          expect((await w1.heartbeat([run.id])).json.cancelledRunIds).toEqual([run.id]);
          expect(await w1.complete(polled.task, 'too late')).toBe(409);
        } else {
          // Only if the poll's deadline passed while the claim was held (a starved machine): handed back.
          expect(openedAt).toBeGreaterThan(request.deadlineAt - MARGIN_MS);
        }
        const [final1] = await h.query(
          `SELECT r.status, r.claims, r.locked_by, p.output FROM workflow_runs r
           JOIN workflow_payloads p ON p.run_id = r.id WHERE r.id = $1`,
          [run.id],
        );
        expect(final1).toEqual({ status: 'CANCELLED', claims: 1, locked_by: null, output: null });

        // Cancel first: the cancel has updated the row and is held before it commits when a poll comes. The
        // claim skips the row it cannot lock (an older run it would otherwise serve first, FIFO) and takes a
        // newer one; the cancelled run is never claimed.
        const q2 = h.unique();
        const w2 = await ProtocolWorker.register(h, { queue: q2, workflowTypes: ['job'] });
        const older = await client.start('job', 'older', { queue: q2 });
        const cancelGate = await TransitionGate.close(h, q2, 'cancel');
        let olderCancelAnswered = false;
        const cancelOlder = client.cancel(older.id).finally(() => (olderCancelAnswered = true));
        await cancelGate.waitForHeld();
        const newer = await client.start('job', 'newer', { queue: q2 });
        const task = await w2.pollUntilTask();
        expect(task.runId).toBe(newer.id);
        // The claim ran while the cancel was in flight: uncommitted, the older run still looks PENDING.
        expect(olderCancelAnswered).toBe(false);
        expect((await runRows(h, [older.id])).get(older.id)).toMatchObject({ status: 'PENDING', claims: 0 });
        await cancelGate.open();
        expect(await cancelOlder).toMatchObject({ alreadyCancelled: false, run: { status: 'CANCELLED' } });
        expect(await w2.complete(task, 'done')).toBe(200);
        expect((await transitionsOf(h, [older.id])).map((t) => [t.from_status, t.to_status])).toEqual([
          ['PENDING', 'CANCELLED'],
        ]);
        expect(await claimsOf(h, { runIds: [older.id] })).toEqual([]);
        const rows2 = await runRows(h, [older.id, newer.id]);
        expect(rows2.get(older.id)).toMatchObject({ status: 'CANCELLED', claims: 0, locked_by: null });
        expect(rows2.get(newer.id)).toMatchObject({ status: 'COMPLETED', claims: 1 });
      } finally {
        await uninstallTransitionGates(h);
      }

      // At scale, without gates: pollers are waiting while runs are started and cancelled at once. Whatever
      // order each pair takes, every run ends CANCELLED, claimed at most once, and no late completion lands.
      const q3 = h.unique();
      const RUNS = 60;
      const pollers = await register(q3, 6);
      const cancels = new Map<string, Promise<unknown>>();
      const deliveredTo = new Map<string, string[]>();
      const lateCompletions: Array<{ runId: string; status: number }> = [];
      let stop = false;
      const loops = pollers.flatMap((worker, w) =>
        range(2).map(async (l) => {
          while (!stop) {
            const task = await pollEither(worker, w + l);
            if (!task) continue;
            deliveredTo.set(task.runId, [...(deliveredTo.get(task.runId) ?? []), worker.id]);
            // The cancel was sent right after the start; the worker acts once the cancel answered.
            await waitFor(() => cancels.has(task.runId), 'the cancel to be sent');
            await cancels.get(task.runId);
            lateCompletions.push({ runId: task.runId, status: await worker.complete(task, 'after cancel') });
          }
        }),
      );
      await Promise.all(pollers.map((p) => tap.waitFor(p.id, 2)));
      const ids: string[] = [];
      await Promise.all(
        range(6).map(async (stream) => {
          for (let n = stream; n < RUNS; n += 6) {
            const started = await client.start('job', n, { queue: q3 });
            ids.push(started.id);
            const cancelled = client.cancel(started.id).then((res) => {
              expect(res.alreadyCancelled).toBe(false);
              expect(res.run.status).toBe('CANCELLED');
            });
            cancels.set(started.id, cancelled);
            await cancelled;
          }
        }),
      );
      const rows = await runRows(h, ids);
      await waitFor(
        () => [...deliveredTo.keys()].every((id) => lateCompletions.some((c) => c.runId === id)),
        'every delivered run to be answered',
      );
      stop = true;
      await Promise.all(loops);

      for (const id of ids) {
        const row = rows.get(id)!;
        expect(row.status).toBe('CANCELLED');
        const receivers = deliveredTo.get(id) ?? [];
        expect(receivers.length).toBeLessThanOrEqual(1);
        // Claimed at most once, and only ever by the poll that received it.
        expect(row.claims).toBe(receivers.length);
      }
      expect(lateCompletions.every((c) => c.status === 409)).toBe(true);
      const [{ leftovers }] = await h.query(
        `SELECT count(*)::int AS leftovers FROM workflow_runs r JOIN workflow_payloads p ON p.run_id = r.id
         WHERE r.task_queue = $1 AND (r.status <> 'CANCELLED' OR p.output IS NOT NULL)`,
        [q3],
      );
      expect(leftovers).toBe(0);
    });
  });

  describe('5.2 work distributor races', () => {
    test('poll_timeout_doesnt_orphan_claimed_workflow', async () => {
      const client = h.client();

      // Polls keep timing out around runs that appear at arbitrary moments over two poll timeouts.
      const queue = h.unique();
      const pollers = await register(queue, 8);
      const received = new Map<string, number>();
      let stop = false;
      let timeouts = 0;
      const loops = pollers.flatMap((worker, w) =>
        range(2).map(async (l) => {
          while (!stop) {
            const task = await pollEither(worker, w + l);
            if (!task) {
              timeouts++;
              continue;
            }
            received.set(task.runId, (received.get(task.runId) ?? 0) + 1);
            expect(await worker.complete(task)).toBe(200);
          }
        }),
      );
      const ids: string[] = [];
      const until = Date.now() + 2 * POLL_TIMEOUT_MS;
      while (Date.now() < until) {
        ids.push((await client.start('job', null, { queue })).id);
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 150));
      }
      await waitFor(async () => ids.every((id) => received.has(id)), 'every run to be received', {
        timeoutMs: 30_000,
      });
      stop = true;
      await Promise.all(loops);
      expect(timeouts).toBeGreaterThan(0);
      expect([...received.values()].every((n) => n === 1)).toBe(true);
      const rows = await runRows(h, ids);
      for (const id of ids) expect(rows.get(id)).toMatchObject({ status: 'COMPLETED', claims: 1, attempt: 1 });

      // Callers that go away right after a run is created: HTTP requests aborted, gRPC calls cancelled.
      // Each on its own queue, so a released run cannot reach another iteration's poll.
      const recovery = h.config.leaseDurationMs + 3 * h.config.watchdogIntervalMs + 5_000;
      const outcomes = await Promise.all(
        range(12).map(async (i) => {
          const q = h.unique();
          const [aborter] = await register(q, 1);
          const controller = new AbortController();
          const forwarded = tap.next(aborter!.id);
          const poll = pollEither(aborter!, i, controller.signal).then(
            (task) => task,
            (err: unknown) => {
              if (err instanceof BatonError || (err as Error).name === 'AbortError') return null;
              throw err;
            },
          );
          await forwarded;
          const started = await client.start('job', i, { queue: q });
          controller.abort();
          const got = await poll;
          if (got) {
            // It did arrive: the caller holds it and finishes it.
            expect(got.runId).toBe(started.id);
            expect(await aborter!.complete(got)).toBe(200);
            return { runId: started.id, how: 'received' as const };
          }
          // Not received. Where the frontend saw the hang-up before its answer went out, the claim is handed
          // back at once; where its answer was already on the wire (written, then dropped by the aborting
          // client), nobody can tell and the lease decides (invariant 4). Either way it is PENDING again and
          // a real worker completes it; nothing runs twice.
          const row = await waitFor(
            async () => {
              const r = (await runRows(h, [started.id])).get(started.id)!;
              if (r.status === 'RUNNING') expect(r.locked_by).toBe(aborter!.id);
              return r.status === 'PENDING' ? r : null;
            },
            `run ${i} to be claimable again`,
            { timeoutMs: recovery, intervalMs: 20 },
          );
          const how = row.attempt === 1 ? ('released' as const) : ('lease-expired' as const);
          if (how === 'lease-expired') expect(row).toMatchObject({ attempt: 2, error_type: 'LEASE_LOST' });
          const [runner] = await register(q, 1);
          const task = await runner!.pollUntilTask(recovery);
          expect(task.runId).toBe(started.id);
          expect(await runner!.complete(task)).toBe(200);
          return { runId: started.id, how };
        }),
      );
      const rows2 = await runRows(
        h,
        outcomes.map((o) => o.runId),
      );
      for (const o of outcomes) {
        const row = rows2.get(o.runId)!;
        expect(row.status).toBe('COMPLETED');
        expect(row.claims).toBe(o.how === 'received' ? 1 : 2);
        expect(row.attempt).toBe(o.how === 'lease-expired' ? 2 : 1);
      }
      const count = (how: string) => outcomes.filter((o) => o.how === how).length;
      console.info(
        `aborted polls: ${count('received')} received anyway, ${count('released')} released at once, ` +
          `${count('lease-expired')} answered before the hang-up was seen (lease expiry)`,
      );
    });

    test('work_distributor_channel_close_prevents_claim', async () => {
      const client = h.client();

      // A waiter within the margin of its deadline is not claimed for: the run waits for the next poll.
      const queue = h.unique();
      const [late] = await register(queue, 1);
      let exercised = 0;
      for (let attempt = 1; attempt <= 5 && exercised === 0; attempt++) {
        // Created just inside the margin before the deadline the frontend gave the poll.
        const forwarded = tap.next(late!.id);
        const poll = late!.poll();
        const request = await forwarded;
        const at = request.deadlineAt - MARGIN_MS + 50;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
        const started = await client.start('job', attempt, { queue });
        const createdInWindow = Date.now() < request.deadlineAt;
        const outcome = await poll;
        if (!createdInWindow) {
          // The machine was too slow to create the run inside the window; the poll may or may not have it.
          if (outcome.task) expect(await late!.complete(outcome.task)).toBe(200);
          else expect(await late!.complete(await late!.pollUntilTask())).toBe(200);
          continue;
        }
        exercised++;
        expect(outcome).toMatchObject({ status: 200, task: null });
        expect(await claimsOf(h, { runIds: [started.id] })).toEqual([]);
        expect((await runRows(h, [started.id])).get(started.id)).toMatchObject({ status: 'PENDING', claims: 0 });
        const next = await late!.pollUntilTask();
        expect(next).toMatchObject({ runId: started.id, leaseEpoch: 1 });
        expect(await late!.complete(next)).toBe(200);
      }
      expect(exercised).toBe(1);

      // A waiter whose caller has gone: its claim is handed back at once (long before the lease), never delivered.
      const q2 = h.unique();
      const [gone] = await register(q2, 1);
      for (const i of [0, 1]) {
        const controller = new AbortController();
        const forwarded = tap.next(gone!.id);
        const poll = pollEither(gone!, i, controller.signal).then(
          () => 'delivered',
          () => 'aborted',
        );
        await forwarded;
        controller.abort();
        expect(await poll).toBe('aborted');
        const started = await client.start('job', i, { queue: q2 });
        const released = await waitFor(
          async () => {
            const row = (await runRows(h, [started.id])).get(started.id)!;
            return row.claims === 1 && row.status === 'PENDING' && row.locked_by === null ? row : null;
          },
          'the claim for the gone caller to be released',
          // Well before the claim's first lease could expire: a release, not an expiry.
          { timeoutMs: Math.min(h.config.leaseDurationMs, h.config.claimAckTimeoutMs) / 2 },
        );
        expect(released.attempt).toBe(1);
        const [claim] = await claimsOf(h, { runIds: [started.id] });
        expect(claim).toMatchObject({ worker_id: gone!.id, lease_epoch: 1 });
        // The next poll gets it under a new lease; the gone caller's lease is void.
        const task = await gone!.pollUntilTask();
        expect(task).toMatchObject({ runId: started.id, leaseEpoch: 2 });
        expect(await gone!.complete({ runId: started.id, leaseEpoch: 1, leaseToken: randomUUID() })).toBe(409);
        expect(await gone!.complete(task)).toBe(200);
      }
    });

    test('concurrent_work_distributor_requests_handled', async () => {
      const client = h.client();

      // FIFO: the oldest waiter gets the oldest run.
      const queue = h.unique();
      const K = 15;
      const workers = await register(queue, K);
      const polls: Array<Promise<PolledTask | null>> = [];
      for (const [i, worker] of workers.entries()) {
        polls.push(pollEither(worker, i));
        await tap.waitFor(worker.id);
      }
      const runs: string[] = [];
      for (const i of range(K)) runs.push((await client.start('job', i, { queue })).id);
      const got = await Promise.all(polls);
      expect(got.map((t) => t?.runId)).toEqual(runs);
      for (const [i, worker] of workers.entries()) expect(await worker.complete(got[i]!)).toBe(200);

      // Many simultaneous waiters on one queue, all served, each with its own run.
      const q2 = h.unique();
      const many = await register(q2, 10);
      const waiting = many.flatMap((worker, w) => range(6).map((l) => pollEither(worker, w + l)));
      await Promise.all(many.map((worker) => tap.waitFor(worker.id, 6)));
      const ids = (await Promise.all(range(60).map((n) => client.start('job', n, { queue: q2 })))).map((s) => s.id);
      const tasks = await Promise.all(waiting);
      expect(tasks.every((t) => t !== null)).toBe(true);
      expect(tasks.map((t) => t!.runId).sort()).toEqual([...ids].sort());
      const rows = await runRows(h, ids);
      for (const id of ids) expect(rows.get(id)).toMatchObject({ status: 'RUNNING', claims: 1 });
      await Promise.all(
        tasks.map((task) =>
          many
            .find((w) => w.held.has(task!.runId))!
            .complete(task!)
            .then((s) => expect(s).toBe(200)),
        ),
      );
    });
  });
});
