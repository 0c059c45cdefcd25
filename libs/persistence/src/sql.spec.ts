import { msSince } from './sql';

describe('msSince', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('counts up to the moment pg turns it into text, not to when it was made', () => {
    const param = msSince(Date.now() - 250, 60_000);
    // The statement waited 40 ms for a connection before it was sent: that wait counts.
    jest.advanceTimersByTime(40);
    expect(param.toPostgres()).toBe('290');
  });

  it('stays within 0..max', () => {
    expect(msSince(Date.now() + 5_000, 60_000).toPostgres()).toBe('0');
    expect(msSince(Date.now() - 90_000, 60_000).toPostgres()).toBe('60000');
  });
});
