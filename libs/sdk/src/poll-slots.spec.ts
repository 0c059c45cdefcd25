import { LIMITS } from '@baton/contracts';
import { nextPoll } from './poll-slots';
import type { PollCapacity, PollReservation } from './poll-slots';

const running = (counts: Record<string, number> = {}) => new Map(Object.entries(counts));

function plan(overrides: Partial<PollCapacity> = {}): PollReservation | null {
  return nextPoll({
    maxConcurrent: 5,
    running: running(),
    outstanding: [],
    handlerTypes: ['a', 'b'],
    ...overrides,
  });
}

describe('nextPoll', () => {
  test('an idle worker asks for every slot it has, for every type', () => {
    expect(plan()).toEqual({ types: ['a', 'b'], slots: 5 });
  });

  test('asks for no more than the free slots: maxConcurrent minus what runs', () => {
    expect(plan({ running: running({ a: 2, b: 1 }) })).toEqual({ types: ['a', 'b'], slots: 2 });
  });

  test('runs of a type without a handler still take slots', () => {
    expect(plan({ running: running({ gone: 4 }) })).toEqual({ types: ['a', 'b'], slots: 1 });
  });

  test('slots reserved by outstanding polls are not free', () => {
    const outstanding = [{ types: ['a'], slots: 2 }];
    expect(plan({ running: running({ b: 1 }), outstanding })).toEqual({ types: ['a', 'b'], slots: 2 });
  });

  test('no room at all: null, whether running or reserved', () => {
    expect(plan({ running: running({ a: 5 }) })).toBeNull();
    expect(plan({ outstanding: [{ types: ['a', 'b'], slots: 5 }] })).toBeNull();
    expect(plan({ running: running({ a: 3 }), outstanding: [{ types: ['b'], slots: 2 }] })).toBeNull();
    // More running than allowed (the limit was lowered): still none, never a negative ask.
    expect(plan({ running: running({ a: 7 }) })).toBeNull();
  });

  test('never asks for more than LIMITS.pollMaxTasks', () => {
    expect(plan({ maxConcurrent: LIMITS.pollMaxTasks * 3 })).toEqual({
      types: ['a', 'b'],
      slots: LIMITS.pollMaxTasks,
    });
    expect(plan({ maxConcurrent: LIMITS.pollMaxTasks + 1 })?.slots).toBe(LIMITS.pollMaxTasks);
  });

  test('a poll that includes a limited type asks for no more than its room', () => {
    expect(plan({ typeLimits: { a: 2 } })).toEqual({ types: ['a', 'b'], slots: 2 });
  });

  test("a limited type's room is its limit minus its runs", () => {
    expect(plan({ typeLimits: { a: 2 }, running: running({ a: 1 }) })).toEqual({ types: ['a', 'b'], slots: 1 });
  });

  test("a limited type's room is its limit minus the slots of outstanding polls that include it", () => {
    expect(plan({ maxConcurrent: 10, typeLimits: { a: 3 }, outstanding: [{ types: ['a', 'b'], slots: 2 }] })).toEqual({
      types: ['a', 'b'],
      slots: 1,
    });
    // A poll without the type reserves nothing of its room.
    expect(plan({ maxConcurrent: 10, typeLimits: { a: 3 }, outstanding: [{ types: ['b'], slots: 2 }] })).toEqual({
      types: ['a', 'b'],
      slots: 3,
    });
  });

  test('a limited type with no room is left out; the others take the free slots', () => {
    expect(plan({ typeLimits: { a: 2 }, running: running({ a: 2 }) })).toEqual({ types: ['b'], slots: 3 });
    expect(plan({ typeLimits: { a: 2 }, outstanding: [{ types: ['a', 'b'], slots: 2 }] })).toEqual({
      types: ['b'],
      slots: 3,
    });
    expect(plan({ typeLimits: { a: 0 } })).toEqual({ types: ['b'], slots: 5 });
  });

  test('several limited types: the poll asks for the smallest room among them', () => {
    expect(plan({ maxConcurrent: 10, typeLimits: { a: 4, b: 3 }, running: running({ a: 1, b: 1 }) })).toEqual({
      types: ['a', 'b'],
      slots: 2,
    });
  });

  test('every limited type full: null although slots are free', () => {
    expect(plan({ typeLimits: { a: 1, b: 1 }, running: running({ a: 1, b: 1 }) })).toBeNull();
  });

  test('polls planned one after another never reserve more than the worker can run', () => {
    const capacity = {
      maxConcurrent: 10,
      running: running({ a: 1 }),
      handlerTypes: ['a', 'b', 'c'],
      typeLimits: { a: 3, b: 4 },
    };
    const outstanding: PollReservation[] = [];
    for (let poll = nextPoll({ ...capacity, outstanding }); poll; poll = nextPoll({ ...capacity, outstanding })) {
      outstanding.push(poll);
    }
    const reserved = (type: string) =>
      outstanding.reduce((sum, poll) => sum + (poll.types.includes(type) ? poll.slots : 0), 0);
    expect(outstanding.reduce((sum, poll) => sum + poll.slots, 0)).toBe(10 - 1);
    expect(1 + reserved('a')).toBeLessThanOrEqual(3);
    expect(reserved('b')).toBeLessThanOrEqual(4);
    expect(outstanding).toEqual([
      { types: ['a', 'b', 'c'], slots: 2 },
      { types: ['b', 'c'], slots: 2 },
      { types: ['c'], slots: 5 },
    ]);
  });
});
