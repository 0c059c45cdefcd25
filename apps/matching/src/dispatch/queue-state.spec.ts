import { QueueState } from './queue-state';

describe('QueueState', () => {
  const state = () => {
    const s = new QueueState('ns', 'q', () => undefined);
    s.dueKnown = true;
    return s;
  };

  it('records a type set as empty only if nothing rang since its claim began', () => {
    const s = state();
    const before = s.ringCount;
    s.ring();
    s.markEmpty('a', before);
    expect(s.isEmpty('a')).toBe(false);
    s.markEmpty('a', s.ringCount);
    expect(s.isEmpty('a')).toBe(true);
    s.close();
  });

  it('a ring forgets every finding', () => {
    const s = state();
    s.markEmpty('a', s.ringCount);
    s.markEmpty('b', s.ringCount);
    s.ring();
    expect(s.isEmpty('a') || s.isEmpty('b')).toBe(false);
    s.close();
  });

  it('does not trust "empty" while the next due time is unknown', () => {
    const s = state();
    s.dueKnown = false;
    s.markEmpty('a', s.ringCount);
    expect(s.isEmpty('a')).toBe(false);
    s.close();
  });

  it('the due time coming rings through its owner and must be read again', () => {
    jest.useFakeTimers({ now: 0 });
    try {
      const rung: QueueState[] = [];
      const s = new QueueState('ns', 'q', (due) => rung.push(due));
      s.dueKnown = true;
      s.due.arm(100);
      jest.advanceTimersByTime(200);
      expect(rung).toEqual([s]);
      expect(s.dueKnown).toBe(false);
      s.close();
    } finally {
      jest.useRealTimers();
    }
  });

  it("a rate limit's next free claim survives a refresh of the due time from the database", async () => {
    jest.useFakeTimers({ now: 0 });
    try {
      const rung: number[] = [];
      const s = new QueueState('ns', 'q', () => rung.push(Date.now()));
      s.throttled(500);
      // The database knows of no parked run: the refresh forgets every time armed before it...
      await s.due.refresh(async () => null);
      s.rearmThrottle();
      // ...but the throttle is armed again, and rings once, at its time.
      jest.advanceTimersByTime(499);
      expect(rung).toEqual([]);
      jest.advanceTimersByTime(10);
      expect(rung).toHaveLength(1);
      expect(rung[0]).toBeGreaterThanOrEqual(500);
      // Past its time it is not armed again.
      s.rearmThrottle();
      jest.advanceTimersByTime(1_000);
      expect(rung).toHaveLength(1);
      s.close();
    } finally {
      jest.useRealTimers();
    }
  });
});
