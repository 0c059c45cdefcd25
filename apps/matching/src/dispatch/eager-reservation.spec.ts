import { buildConfig } from '@baton/contracts';
import type { PollReply, PollRequest } from '@baton/contracts';
import type { RunEvents } from '@baton/messaging';
import type { ClaimRepository, ClaimedRun, DueTimesRepository, WorkersRepository } from '@baton/persistence';
import { taskFromBus } from '@baton/proto';
import { LocalDispatch } from '@baton/runtime';
import type { BatonMetrics } from '@baton/runtime';
import { DispatcherService } from './dispatcher.service';

/** Eager dispatch's side in matching: reserving a waiting poll, delivering to it or putting it back. */
describe('DispatcherService.reserve', () => {
  const MARGIN_MS = 100;
  let now: number;
  let claimBatch: jest.Mock;
  let handedBack: jest.Mock;
  let rung: jest.Mock;
  let dispatcher: DispatcherService;
  let local: LocalDispatch;

  const run = (workerId: string, waiter = 0, runId = 'run-1'): ClaimedRun => ({
    waiter,
    runId,
    workerId,
    workflowType: 'a',
    attempt: 1,
    leaseEpoch: 1,
    leaseToken: '7d0c2b4e-5f61-4a8b-9c3d-1e2f3a4b5c6d',
    claims: 1,
    deadlineAt: null,
    correlationId: null,
    traceId: null,
    input: null,
  });

  /** Lets the poll's worker check and its first (empty) claim round finish: every fake answers at once. */
  const settle = async () => {
    for (let i = 0; i < 100; i++) await Promise.resolve();
  };

  /** A poll of `workerId` for `types`, waiting in matching once settled. */
  async function poll(workerId: string, types: string[], ttlMs = 60_000, maxTasks = 1) {
    const request: PollRequest = {
      workerId,
      namespace: 'ns',
      queue: 'q',
      workflowTypes: types,
      deadlineAt: now + ttlMs,
      maxTasks,
    };
    let reply: PollReply | undefined;
    void dispatcher.poll(request).then((r) => (reply = r));
    await settle();
    return { answer: () => reply };
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    now = Date.now();
    claimBatch = jest.fn(async () => ({ runs: [], retry: false, exhausted: true }));
    handedBack = jest.fn(async () => ({ namespace: 'ns', queue: 'q' }));
    rung = jest.fn();
    const claims = { claimBatch, histories: async () => new Map(), release: handedBack };
    const dueTimes = { nextAvailable: async () => null };
    const workers = { requirePollable: async () => ({ namespace: 'ns', queue: 'q', maxConcurrent: 10 }) };
    local = new LocalDispatch();
    dispatcher = new DispatcherService(
      buildConfig({ pollDeadlineMarginMs: MARGIN_MS, matchingFallbackMs: 3_600_000 }),
      claims as unknown as ClaimRepository,
      dueTimes as unknown as DueTimesRepository,
      { workAvailable: rung } as unknown as RunEvents,
      workers as unknown as WorkersRepository,
      local,
      { runsClaimed: () => {}, claimReleased: () => {} } as unknown as BatonMetrics,
    );
    dispatcher.onModuleInit();
  });

  afterEach(async () => {
    await dispatcher.beforeApplicationShutdown();
    jest.useRealTimers();
  });

  it('registers in the local registry at init and leaves it at shutdown', async () => {
    await poll('w1', ['a']);
    const reservation = local.reserve('ns', 'q', 'a');
    expect(reservation?.places).toEqual(['w1']);
    reservation!.release();
    await dispatcher.beforeApplicationShutdown();
    expect(local.reserve('ns', 'q', 'a')).toBeUndefined();
  });

  it('reserves the oldest waiting poll that asks for the type, one per queue at a time', async () => {
    await poll('w-other-type', ['b']);
    await poll('w1', ['a', 'b']);
    await poll('w2', ['a']);
    const first = dispatcher.reserve('ns', 'q', 'a', 1);
    expect(first?.places).toEqual(['w1']);
    // While one start's statement runs, the queue takes no other reservation (nor claim round).
    expect(dispatcher.reserve('ns', 'q', 'a', 1)).toBeUndefined();
    expect(dispatcher.reserve('ns', 'other-queue', 'a', 1)).toBeUndefined();
    first!.deliver([run('w1')]);
    await settle();
    const second = dispatcher.reserve('ns', 'q', 'a', 1);
    expect(second?.places).toEqual(['w2']);
    second!.release();
    await settle();
    expect(dispatcher.reserve('ns', 'q', 'c', 1)).toBeUndefined();
  });

  it('reserves a place per run on the oldest polls, each as many as it asks for, up to the runs', async () => {
    await poll('w1', ['a'], 60_000, 3);
    await poll('w2', ['a'], 60_000, 2);
    await poll('w3', ['a'], 60_000, 2);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 4)!;
    expect(reservation.places).toEqual(['w1', 'w1', 'w1', 'w2']);
    reservation.release();
  });

  it('deliver answers each poll with the runs of its places; a poll that got none waits again', async () => {
    const first = await poll('w1', ['a'], 60_000, 2);
    const second = await poll('w2', ['a']);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 3)!;
    expect(reservation.places).toEqual(['w1', 'w1', 'w2']);
    // The workers' limits let two of the three runs be inserted claimed, both on w1's places.
    reservation.deliver([run('w1', 0, 'run-1'), run('w1', 1, 'run-2')]);
    await settle();
    const reply = first.answer()!;
    const runIds = [reply.task!, ...(reply.moreTasks ?? []).map((m) => m.task)].map((t) => taskFromBus(t).runId);
    expect(runIds).toEqual(['run-1', 'run-2']);
    expect(second.answer()).toBeUndefined();
    const again = dispatcher.reserve('ns', 'q', 'a', 1);
    expect(again?.places).toEqual(['w2']);
    again?.release();
    expect(handedBack).not.toHaveBeenCalled();
  });

  it('claim rounds of the queue wait for a reservation, and run after it when asked meanwhile', async () => {
    await poll('w1', ['a']);
    await poll('w2', ['a']);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 1)!;
    claimBatch.mockClear();
    dispatcher.workAvailable('ns', 'q');
    await settle();
    // w2 waits too, but no round may run while w1 is set aside: it could take the run meant for w1.
    expect(claimBatch).not.toHaveBeenCalled();
    reservation.release();
    await settle();
    expect(claimBatch).toHaveBeenCalled();
    expect(claimBatch.mock.calls.at(-1)![2]).toEqual([{ workerId: 'w1' }, { workerId: 'w2' }]);
  });

  it('never reserves a poll within the deadline margin', async () => {
    await poll('w1', ['a'], MARGIN_MS);
    expect(dispatcher.reserve('ns', 'q', 'a', 1)).toBeUndefined();
  });

  it('deliver answers the reserved poll with the run, without history', async () => {
    const waiting = await poll('w1', ['a']);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 1)!;
    reservation.deliver([run('w1')]);
    await settle();
    const task = taskFromBus(waiting.answer()!.task!);
    expect([task.runId, task.leaseEpoch, task.leaseToken, task.history]).toEqual([
      'run-1',
      1,
      '7d0c2b4e-5f61-4a8b-9c3d-1e2f3a4b5c6d',
      [],
    ]);
    expect(handedBack).not.toHaveBeenCalled();
  });

  it('a reserved poll is left out of claim rounds and is not answered by its deadline', async () => {
    const waiting = await poll('w1', ['a'], 1_000);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 1)!;
    claimBatch.mockClear();
    dispatcher.workAvailable('ns', 'q');
    await settle();
    expect(claimBatch).not.toHaveBeenCalled();
    jest.advanceTimersByTime(2_000);
    expect(waiting.answer()).toBeUndefined();
    // Its deadline passed while reserved: released, it is answered empty.
    reservation.release();
    await settle();
    expect(waiting.answer()).toEqual({});
  });

  it('release puts the poll back: claimed for again at once, and reservable again', async () => {
    const waiting = await poll('w1', ['a']);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 1)!;
    claimBatch.mockClear();
    reservation.release();
    await settle();
    // The start that released it rings the queue (its run went in PENDING): the poll is claimed for.
    dispatcher.workAvailable('ns', 'q');
    await settle();
    expect(claimBatch).toHaveBeenCalledWith('ns', 'q', [{ workerId: 'w1' }], ['a'], expect.any(Number));
    expect(waiting.answer()).toBeUndefined();
    const again = dispatcher.reserve('ns', 'q', 'a', 1);
    expect(again?.places).toEqual(['w1']);
    again?.release();
  });

  it('only the first of deliver and release counts', async () => {
    const waiting = await poll('w1', ['a']);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 1)!;
    reservation.deliver([run('w1')]);
    reservation.release();
    await settle();
    expect(waiting.answer()?.task).toBeDefined();
    expect(dispatcher.reserve('ns', 'q', 'a', 1)).toBeUndefined();
  });

  it('during shutdown: no reservation; a run delivered to a poll answered meanwhile is handed back', async () => {
    const waiting = await poll('w1', ['a']);
    const reservation = dispatcher.reserve('ns', 'q', 'a', 1)!;
    const closing = dispatcher.beforeApplicationShutdown();
    expect(dispatcher.reserve('ns', 'q', 'a', 1)).toBeUndefined();
    // Shutdown waits for the reservation before it answers what is left.
    await settle();
    expect(waiting.answer()).toBeUndefined();
    reservation.deliver([run('w1')]);
    await closing;
    await settle();
    expect(handedBack).toHaveBeenCalledWith(expect.objectContaining({ runId: 'run-1', workerId: 'w1' }));
    expect(rung).toHaveBeenCalledWith('ns', 'q');
    expect(waiting.answer()).toEqual({});
  });
});
