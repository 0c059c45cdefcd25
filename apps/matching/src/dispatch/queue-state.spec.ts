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
});
