import { RunStatus, buildConfig } from '@baton/contracts';
import type { RunView } from '@baton/contracts';
import type { RunEvents } from '@baton/messaging';
import type { RunsRepository, StepsRepository } from '@baton/persistence';
import type { BatonMetrics, LocalDispatch } from '@baton/runtime';
import { ResultWaiters } from './result-waiters';
import { WorkflowsService } from './workflows.service';

const view = (status: RunStatus, namespace = 'ns'): RunView => ({ id: 'run-1', namespace, status }) as RunView;

/** Lets the service's awaits run (every fake answers at once). */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('ResultWaiters', () => {
  test('a finish heard before the waiter waits again is kept, with the run when it came with one', async () => {
    const waiters = new ResultWaiters();
    const subscription = waiters.subscribe('run-1');
    const done = view(RunStatus.COMPLETED);
    waiters.notify('run-1', done);
    await expect(subscription.next(60_000)).resolves.toBe(done);
    waiters.notify('run-1');
    await expect(subscription.next(60_000)).resolves.toBeUndefined();
    subscription.close();
  });

  test('a waiter times out with nothing heard', async () => {
    const waiters = new ResultWaiters();
    const subscription = waiters.subscribe('run-1');
    await expect(subscription.next(5)).resolves.toBeUndefined();
    subscription.close();
  });
});

describe('WorkflowsService.waitResult', () => {
  let waiters: ResultWaiters;
  let getOrThrow: jest.Mock;
  let service: WorkflowsService;

  beforeEach(() => {
    waiters = new ResultWaiters();
    getOrThrow = jest.fn(async () => view(RunStatus.RUNNING));
    service = new WorkflowsService(
      buildConfig({}),
      { getOrThrow } as unknown as RunsRepository,
      {} as StepsRepository,
      { runFinished: () => {} } as unknown as RunEvents,
      waiters,
      {} as LocalDispatch,
      {} as BatonMetrics,
    );
  });

  test('answers with the run a completion in this process finished, without reading it again', async () => {
    const answer = service.waitResult('ns', 'run-1', 60_000);
    await settle();
    const completed = view(RunStatus.COMPLETED);
    service.runFinished(completed, completed);
    await expect(answer).resolves.toEqual({ run: completed, done: true });
    expect(getOrThrow).toHaveBeenCalledTimes(1);
  });

  test('reads the run when the finish came without it (another frontend, or a failure)', async () => {
    const answer = service.waitResult('ns', 'run-1', 60_000);
    await settle();
    const failed = view(RunStatus.FAILED);
    getOrThrow.mockResolvedValueOnce(failed);
    service.runFinished(failed);
    await expect(answer).resolves.toEqual({ run: failed, done: true });
    expect(getOrThrow).toHaveBeenCalledTimes(2);
  });

  test('never answers with a run of another namespace: it reads, and the read says NOT_FOUND', async () => {
    const answer = service.waitResult('ns', 'run-1', 60_000);
    await settle();
    getOrThrow.mockRejectedValueOnce(new Error('not found'));
    service.runFinished(view(RunStatus.COMPLETED, 'other'), view(RunStatus.COMPLETED, 'other'));
    await expect(answer).rejects.toThrow('not found');
    expect(getOrThrow).toHaveBeenCalledTimes(2);
  });
});
