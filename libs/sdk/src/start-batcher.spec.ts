import { BatonError, ErrorCode, LIMITS } from '@baton/contracts';
import type { StartManyRequest, StartRequest, StartResponse } from '@baton/proto';
import { StartBatcher } from './start-batcher';
import type { Transport } from './transport';

/** A server whose calls the test answers by hand, one at a time. */
function heldTransport() {
  const calls: Array<{ method: string; request: unknown; answer(value: unknown): void; fail(err: Error): void }> = [];
  const transport: Pick<Transport, 'call'> = {
    call: <T>(_service: string, method: string, request: unknown) =>
      new Promise<T>((resolve, reject) => {
        calls.push({ method, request, answer: (value) => resolve(value as T), fail: reject });
      }),
  };
  return { transport, calls };
}

const start = (id: string): StartRequest => ({ namespace: 'default', workflowType: 'wf', externalId: id });
const started = (id: string): StartResponse => ({ run: { id }, alreadyExists: false });
/** Past the batcher's own end-of-turn wait (one turn for it, one for the test's continuation). */
const flush = async () => {
  for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
};

describe('StartBatcher', () => {
  test('sends a lone start at once, as Start', async () => {
    const { transport, calls } = heldTransport();
    const result = new StartBatcher(transport).start(start('a'));
    expect(calls.map((c) => c.method)).toEqual(['Start']);
    calls[0]!.answer(started('a'));
    await expect(result).resolves.toEqual(started('a'));
  });

  test('sends the starts made during a call together as one StartMany, each answered with its own outcome', async () => {
    const { transport, calls } = heldTransport();
    const batcher = new StartBatcher(transport);
    const first = batcher.start(start('a'));
    await flush();
    const rest = ['b', 'c', 'd'].map((id) => batcher.start(start(id)).catch((err: unknown) => err));
    expect(calls).toHaveLength(1);
    calls[0]!.answer(started('a'));
    await first;
    await flush();
    expect(calls.map((c) => c.method)).toEqual(['Start', 'StartMany']);
    expect((calls[1]!.request as StartManyRequest).starts!.map((s) => s.externalId)).toEqual(['b', 'c', 'd']);
    calls[1]!.answer({
      outcomes: [
        { started: started('b') },
        { error: { code: ErrorCode.INVALID_ARGUMENT, message: 'workflowType is too long', field: 'workflowType' } },
        { started: { ...started('d'), alreadyExists: true } },
      ],
    });
    const [b, c, d] = await Promise.all(rest);
    expect(b).toEqual(started('b'));
    expect(c).toBeInstanceOf(BatonError);
    expect(c).toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      field: 'workflowType',
      message: 'workflowType is too long',
    });
    expect(d).toEqual({ ...started('d'), alreadyExists: true });
  });

  test(`never puts more than ${LIMITS.startManyItems} starts in one call`, async () => {
    const { transport, calls } = heldTransport();
    const batcher = new StartBatcher(transport);
    void batcher.start(start('first'));
    await flush();
    const total = LIMITS.startManyItems + 5;
    for (let i = 0; i < total; i++) void batcher.start(start(`s${i}`)).catch(() => undefined);
    calls[0]!.answer(started('first'));
    await flush();
    expect((calls[1]!.request as StartManyRequest).starts).toHaveLength(LIMITS.startManyItems);
    calls[1]!.fail(new BatonError(ErrorCode.UNAVAILABLE, 'down'));
    await flush();
    expect((calls[2]!.request as StartManyRequest).starts).toHaveLength(5);
  });

  test('fails every start of a call that failed as a whole, then goes on with the next', async () => {
    const { transport, calls } = heldTransport();
    const batcher = new StartBatcher(transport);
    void batcher.start(start('a'));
    await flush();
    const batch = ['b', 'c'].map((id) => batcher.start(start(id)).catch((err: unknown) => err));
    calls[0]!.answer(started('a'));
    await flush();
    calls[1]!.fail(new BatonError(ErrorCode.UNAVAILABLE, 'frontend unreachable'));
    for (const err of await Promise.all(batch)) expect(err).toMatchObject({ code: ErrorCode.UNAVAILABLE });
    const later = batcher.start(start('e'));
    await flush();
    expect(calls[2]!.method).toBe('Start');
    calls[2]!.answer(started('e'));
    await expect(later).resolves.toEqual(started('e'));
  });

  test('sends each start on its own when the server has no StartMany', async () => {
    const { transport, calls } = heldTransport();
    const batcher = new StartBatcher(transport);
    void batcher.start(start('a'));
    await flush();
    const batch = ['b', 'c'].map((id) => batcher.start(start(id)));
    calls[0]!.answer(started('a'));
    await flush();
    calls[1]!.fail(new BatonError(ErrorCode.UNIMPLEMENTED, 'unknown method StartMany'));
    await flush();
    expect(calls.slice(2).map((c) => [c.method, (c.request as StartRequest).externalId])).toEqual([
      ['Start', 'b'],
      ['Start', 'c'],
    ]);
    calls[2]!.answer(started('b'));
    calls[3]!.answer(started('c'));
    await expect(Promise.all(batch)).resolves.toEqual([started('b'), started('c')]);
    void batcher.start(start('d'));
    expect(calls[4]!.method).toBe('Start');
    expect(calls).toHaveLength(5);
  });
});
