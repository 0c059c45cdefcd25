import { BatonError, ErrorCode } from '@baton/contracts';
import { GroupCommit } from './group-commit';
import type { GroupCommitOptions } from './group-commit';

/** A fake statement runner: records every batch and answers when the test says. */
function harness<I>(options: Partial<GroupCommitOptions<I, string>> = {}) {
  const batches: I[][] = [];
  const pending: Array<{ items: I[]; answer(results?: string[]): void; fail(err: unknown): void }> = [];
  const commit = new GroupCommit<I, string>({
    maxItems: 3,
    run: (items) => {
      batches.push(items);
      return new Promise<string[]>((resolve, reject) => {
        pending.push({
          items,
          answer: (results) => resolve(results ?? items.map((i) => `done ${String(i)}`)),
          fail: reject,
        });
      });
    },
    ...options,
  });
  /** Lets the helper's continuations run (a settled batch starts the next one). */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { commit, batches, pending, settle };
}

/** Past the end of the current turn of microtasks, where an idle group commit sends what was submitted. */
function turn(): Promise<void> {
  return Promise.resolve();
}

describe('GroupCommit', () => {
  it('runs an item at the end of its turn of microtasks when nothing is in flight', async () => {
    const { commit, batches, pending } = harness<number>();
    const result = commit.submit(1);
    expect(batches).toEqual([]);
    await turn();
    expect(batches).toEqual([[1]]);
    pending[0]!.answer();
    await expect(result).resolves.toBe('done 1');
  });

  it('sends items that arrive during a batch together as the next one, up to maxItems', async () => {
    const { commit, batches, pending, settle } = harness<number>();
    const results = [commit.submit(1)];
    await turn();
    results.push(...[2, 3, 4, 5, 6].map((i) => commit.submit(i)));
    expect(batches).toEqual([[1]]);
    pending[0]!.answer();
    await settle();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    pending[1]!.answer();
    await settle();
    expect(batches).toEqual([[1], [2, 3, 4], [5, 6]]);
    pending[2]!.answer();
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3, 4, 5, 6].map((i) => `done ${i}`));
    // Idle again: the next item goes at the end of its turn.
    void commit.submit(7);
    await turn();
    expect(batches[3]).toEqual([7]);
  });

  it('sends items submitted in one turn as one batch, even with nothing in flight', async () => {
    const { commit, batches, pending, settle } = harness<number>();
    const results = [1, 2, 3, 4].map((i) => commit.submit(i));
    await turn();
    expect(batches).toEqual([[1, 2, 3]]);
    pending[0]!.answer();
    await settle();
    expect(batches).toEqual([[1, 2, 3], [4]]);
    pending[1]!.answer();
    await expect(Promise.all(results)).resolves.toEqual([1, 2, 3, 4].map((i) => `done ${i}`));
  });

  it('hands each caller its own result', async () => {
    const { commit, pending, settle } = harness<string>();
    const first = commit.submit('a');
    await turn();
    const rest = ['b', 'c'].map((i) => commit.submit(i));
    pending[0]!.answer(['A']);
    await settle();
    pending[1]!.answer(['B', 'C']);
    await expect(first).resolves.toBe('A');
    await expect(Promise.all(rest)).resolves.toEqual(['B', 'C']);
  });

  it('keeps a batch within maxBytes, but never holds back an item bigger than that', async () => {
    const { commit, batches, pending, settle } = harness<number>({ bytes: (n) => n, maxBytes: 10 });
    const results = [commit.submit(1)];
    await turn();
    results.push(...[4, 5, 2, 20, 3].map((n) => commit.submit(n)));
    pending[0]!.answer();
    await settle();
    expect(batches[1]).toEqual([4, 5]);
    pending[1]!.answer();
    await settle();
    expect(batches[2]).toEqual([2]);
    pending[2]!.answer();
    await settle();
    expect(batches[3]).toEqual([20]);
    pending[3]!.answer();
    await settle();
    expect(batches[4]).toEqual([3]);
    pending[4]!.answer();
    await expect(Promise.all(results)).resolves.toHaveLength(6);
  });

  it('tries each item of a failed batch on its own, so one bad item fails alone', async () => {
    const { commit, batches, pending, settle } = harness<string>();
    const first = commit.submit('x');
    await turn();
    const results = ['good', 'bad', 'fine'].map((i) => commit.submit(i).catch((err: Error) => err.message));
    pending[0]!.answer();
    await settle();
    pending[1]!.fail(new Error('invalid byte sequence'));
    await settle();
    expect(batches.slice(2)).toEqual([['good'], ['bad'], ['fine']]);
    pending[2]!.answer();
    pending[3]!.fail(new Error('bad item'));
    pending[4]!.answer();
    await expect(first).resolves.toBe('done x');
    await expect(Promise.all(results)).resolves.toEqual(['done good', 'bad item', 'done fine']);
  });

  it('fails every item of a batch with UNAVAILABLE when the database is down, without trying again', async () => {
    const { commit, batches, pending, settle } = harness<string>();
    void commit.submit('x');
    await turn();
    const results = ['a', 'b'].map((i) => commit.submit(i).catch((err: unknown) => err));
    pending[0]!.answer();
    await settle();
    const outage = new BatonError(ErrorCode.UNAVAILABLE, 'database unavailable: ECONNREFUSED');
    pending[1]!.fail(outage);
    await expect(Promise.all(results)).resolves.toEqual([outage, outage]);
    expect(batches).toHaveLength(2);
  });

  it('fails a single item with its own error, and moves on to the items behind it', async () => {
    const { commit, pending, settle } = harness<string>();
    const lone = commit.submit('lone');
    await turn();
    const next = commit.submit('next');
    pending[0]!.fail(new Error('refused'));
    await expect(lone).rejects.toThrow('refused');
    await settle();
    pending[1]!.answer();
    await expect(next).resolves.toBe('done next');
  });

  it('treats a wrong number of results as a failed batch', async () => {
    const { commit, batches, pending, settle } = harness<string>();
    void commit.submit('x');
    await turn();
    const results = ['a', 'b'].map((i) => commit.submit(i));
    pending[0]!.answer();
    await settle();
    pending[1]!.answer(['only one']);
    await settle();
    expect(batches.slice(2)).toEqual([['a'], ['b']]);
    pending[2]!.answer();
    pending[3]!.answer();
    await expect(Promise.all(results)).resolves.toEqual(['done a', 'done b']);
  });
});
