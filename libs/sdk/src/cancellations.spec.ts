import { BatonError, ErrorCode } from '@baton/contracts';
import type { Cancellation } from '@baton/proto';
import { CancellationFeed, reopenDelayMs } from './cancellations';
import type { StreamHandlers, Transport } from './transport';

/** A transport whose streams the test drives by hand. */
function fakeTransport() {
  const streams: Array<{
    request: Record<string, unknown>;
    handlers: StreamHandlers<Cancellation>;
    cancelled: boolean;
  }> = [];
  const transport: Pick<Transport, 'stream'> = {
    stream: (_service, _method, request, handlers) => {
      // WatchCancellations is the one streaming RPC.
      const stream = {
        request: request as Record<string, unknown>,
        handlers: handlers as StreamHandlers<Cancellation>,
        cancelled: false,
      };
      streams.push(stream);
      return { cancel: () => (stream.cancelled = true) };
    },
  };
  return { transport, streams, last: () => streams[streams.length - 1]! };
}

const unavailable = () => new BatonError(ErrorCode.UNAVAILABLE, 'connection refused');

function feed() {
  const { transport, streams, last } = fakeTransport();
  const cancelled: string[] = [];
  const reported: unknown[] = [];
  const f = new CancellationFeed({
    transport,
    namespace: 'ns',
    cancelled: (runId) => cancelled.push(runId),
    report: (err) => reported.push(err),
  });
  return { f, streams, last, cancelled, reported };
}

describe('CancellationFeed', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('opens for the worker id and hands on every pushed run id', () => {
    const { f, streams, last, cancelled } = feed();
    f.watch('w-1');
    expect(streams).toHaveLength(1);
    expect(last().request).toEqual({ namespace: 'ns', workerId: 'w-1' });
    last().handlers.open();
    last().handlers.message({ runIds: ['r-1'] });
    last().handlers.message({ runIds: ['r-2', 'r-3'] });
    last().handlers.message({});
    expect(cancelled).toEqual(['r-1', 'r-2', 'r-3']);
  });

  test('reopens with growing backoff and reports an outage once', () => {
    const { f, streams, last, reported } = feed();
    f.watch('w-1');
    last().handlers.open();
    for (let tries = 1; tries <= 5; tries++) {
      last().handlers.end(unavailable());
      const before = streams.length;
      jest.advanceTimersByTime(reopenDelayMs(tries) - 1);
      expect(streams).toHaveLength(before);
      jest.advanceTimersByTime(1);
      expect(streams).toHaveLength(before + 1);
    }
    expect(reported).toHaveLength(1);
    // Live again: the next outage is a new one, retried quickly again.
    last().handlers.open();
    last().handlers.end(unavailable());
    expect(reported).toHaveLength(2);
    const before = streams.length;
    jest.advanceTimersByTime(reopenDelayMs(1));
    expect(streams).toHaveLength(before + 1);
  });

  test('a clean end (frontend shutting down) is reopened without a report', () => {
    const { f, streams, last, reported } = feed();
    f.watch('w-1');
    last().handlers.open();
    last().handlers.end(null);
    jest.advanceTimersByTime(reopenDelayMs(1));
    expect(streams).toHaveLength(2);
    expect(reported).toHaveLength(0);
  });

  test('the backoff is bounded', () => {
    expect(reopenDelayMs(1)).toBe(100);
    expect(reopenDelayMs(2)).toBe(200);
    expect(reopenDelayMs(100)).toBe(5_000);
  });

  test('a new worker id replaces the stream at once; the old one is ignored from then on', () => {
    const { f, streams, cancelled } = feed();
    f.watch('w-1');
    const old = streams[0]!;
    f.watch('w-1');
    expect(streams).toHaveLength(1);
    f.watch('w-2');
    expect(old.cancelled).toBe(true);
    expect(streams).toHaveLength(2);
    expect(streams[1]!.request.workerId).toBe('w-2');
    old.handlers.end(unavailable());
    jest.advanceTimersByTime(10_000);
    expect(streams).toHaveLength(2);
    streams[1]!.handlers.message({ runIds: ['r-9'] });
    expect(cancelled).toEqual(['r-9']);
  });

  test('close() cancels the stream and any pending reopen', () => {
    const { f, streams, last } = feed();
    f.watch('w-1');
    last().handlers.end(unavailable());
    f.close();
    jest.advanceTimersByTime(10_000);
    expect(streams).toHaveLength(1);
    f.watch('w-2');
    expect(streams).toHaveLength(1);

    const second = feed();
    second.f.watch('w-1');
    second.f.close();
    expect(second.last().cancelled).toBe(true);
  });
});
