import { PollableWorkers } from './pollable-workers';
import type { PollableWorker } from './pollable-workers';

describe('PollableWorkers', () => {
  let now = 0;
  const row: PollableWorker = { namespace: 'ns', queue: 'q', maxConcurrent: 4 };
  type Load = (workerId: string, namespace: string, queue: string) => Promise<PollableWorker>;
  const setup = (
    load: jest.Mock<ReturnType<Load>, Parameters<Load>> = jest.fn<ReturnType<Load>, Parameters<Load>>(async () => row),
  ) => ({
    load,
    cache: new PollableWorkers(1_000, load, () => now),
  });

  beforeEach(() => (now = 0));

  it('reads a worker once, then answers from memory until the entry expires', async () => {
    const { load, cache } = setup();
    await expect(cache.require('w', 'ns', 'q')).resolves.toBe(4);
    await expect(cache.require('w', 'ns', 'q')).resolves.toBe(4);
    expect(load).toHaveBeenCalledTimes(1);
    now = 1_000;
    await cache.require('w', 'ns', 'q');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('reads again after a change event, and for another namespace or queue', async () => {
    const { load, cache } = setup();
    await cache.require('w', 'ns', 'q');
    cache.changed('w');
    await cache.require('w', 'ns', 'q');
    await cache.require('w', 'ns', 'other');
    expect(load).toHaveBeenCalledTimes(3);
  });

  it('never caches a refusal, nor a read that a change overtook', async () => {
    const refusal = new Error('FAILED_PRECONDITION');
    const load = jest.fn<Promise<PollableWorker>, [string, string, string]>().mockRejectedValueOnce(refusal);
    const { cache } = setup(load);
    await expect(cache.require('w', 'ns', 'q')).rejects.toBe(refusal);
    let answer!: (w: PollableWorker) => void;
    load.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    const reading = cache.require('w', 'ns', 'q');
    cache.changed('w');
    answer(row);
    await reading;
    load.mockResolvedValue(row);
    await cache.require('w', 'ns', 'q');
    expect(load).toHaveBeenCalledTimes(3);
  });
});
