import { DueTimer } from './due-timer';

describe('DueTimer', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('fires once at the earliest armed time, never before it', () => {
    const fired: number[] = [];
    const timer = new DueTimer(() => fired.push(Date.now()));
    timer.arm(1_000_500);
    timer.arm(1_000_200);
    timer.arm(1_000_900);
    expect(timer.next).toBe(1_000_200);
    jest.advanceTimersByTime(199);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(1_000);
    expect(fired).toHaveLength(1);
    expect(fired[0]).toBeGreaterThanOrEqual(1_000_200);
    expect(timer.next).toBe(Infinity);
  });

  it('a refresh replaces the armed time with the database answer, counted from when it arrived', async () => {
    const fired: number[] = [];
    const timer = new DueTimer(() => fired.push(Date.now()));
    timer.arm(1_000_100);
    await timer.refresh(async () => 300);
    expect(timer.next).toBe(1_000_300);
    jest.advanceTimersByTime(200);
    expect(fired).toEqual([]);
    jest.advanceTimersByTime(200);
    expect(fired).toHaveLength(1);
    await timer.refresh(async () => null);
    expect(timer.next).toBe(Infinity);
  });

  it('keeps a time armed while a refresh was reading (its answer may predate it)', async () => {
    const timer = new DueTimer(() => undefined);
    let answer!: (inMs: number | null) => void;
    const refreshing = timer.refresh(() => new Promise<number | null>((resolve) => (answer = resolve)));
    timer.arm(1_000_050);
    answer(5_000);
    await refreshing;
    expect(timer.next).toBe(1_000_050);
  });

  it('a failed read leaves the timer as it was; a closed timer never fires', async () => {
    const onDue = jest.fn();
    const timer = new DueTimer(onDue);
    timer.arm(1_000_100);
    await expect(timer.refresh(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(timer.next).toBe(1_000_100);
    timer.close();
    timer.arm(1_000_010);
    jest.advanceTimersByTime(10_000);
    expect(onDue).not.toHaveBeenCalled();
  });

  it('a due time past setTimeout range fires at the range end (the owner reads again then)', () => {
    const onDue = jest.fn();
    const timer = new DueTimer(onDue);
    timer.arm(Date.now() + 30 * 24 * 3600 * 1000);
    jest.advanceTimersByTime(2_147_483_647);
    expect(onDue).toHaveBeenCalledTimes(1);
  });
});
