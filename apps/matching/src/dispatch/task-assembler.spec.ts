import type { StepView } from '@baton/contracts';
import type { ClaimedRun } from '@baton/persistence';
import { taskFromBus } from '@baton/proto';
import { assembleTask, pollReply } from './task-assembler';

const run = (inputBytes: number): ClaimedRun => ({
  waiter: 0,
  runId: 'r',
  workerId: 'w',
  workflowType: 't',
  attempt: 1,
  leaseEpoch: 3,
  leaseToken: '0b5f3c8e-9a41-4d7e-8f2a-6c1d2e3f4a5b',
  claims: 1,
  deadlineAt: null,
  correlationId: 'c',
  traceId: null,
  input: { data: Buffer.alloc(inputBytes, 1), encoding: 'binary' },
});

const step = (outputBytes: number): StepView => ({
  runId: 'r',
  stepId: 's',
  seq: 0,
  kind: 'FUNCTION',
  status: 'COMPLETED',
  attempt: 1,
  output: { data: Buffer.alloc(outputBytes, 2), encoding: 'binary' },
  error: null,
  final: false,
  retryAt: null,
  wakeUpAt: null,
  startedAt: new Date(5),
  finishedAt: null,
});

describe('assembleTask and pollReply', () => {
  test('small tasks carry their input and history inline, base64-encoded on the bus', () => {
    const reply = pollReply([assembleTask('ns', 'q', run(10), [step(5)])]);
    expect(reply.payloadsOmitted).toBeUndefined();
    expect(Buffer.from(reply.task!.input!.data!, 'base64')).toEqual(Buffer.alloc(10, 1));
    const task = taskFromBus(reply.task!);
    expect(task).toMatchObject({
      runId: 'r',
      namespace: 'ns',
      queue: 'q',
      leaseEpoch: 3,
      leaseToken: '0b5f3c8e-9a41-4d7e-8f2a-6c1d2e3f4a5b',
      correlationId: 'c',
    });
    expect(task.traceId).toBeUndefined();
    expect(task.history).toEqual([
      expect.objectContaining({ stepId: 's', seq: 0, status: 'COMPLETED', startedAtMs: 5, output: expect.anything() }),
    ]);
    expect(Buffer.from(task.history![0]!.output!.data!)).toEqual(Buffer.alloc(5, 2));
  });

  test('a task too big for a NATS message travels without payloads, for the frontend to load', () => {
    const reply = pollReply([assembleTask('ns', 'q', run(2 * 1024 * 1024), [])]);
    expect(reply.payloadsOmitted).toBe(true);
    expect(reply.task!.input).toBeUndefined();
    // The lease travels with the task whatever is left out: without it the worker could not act on the run.
    expect(taskFromBus(reply.task!).leaseToken).toBe('0b5f3c8e-9a41-4d7e-8f2a-6c1d2e3f4a5b');
    const withBigHistory = pollReply([assembleTask('ns', 'q', run(10), [step(400_000), step(400_000)])]);
    expect(withBigHistory.payloadsOmitted).toBe(true);
    expect(withBigHistory.task!.history).toEqual([]);
  });

  test('several tasks: the first in task, the rest in moreTasks, inline while the reply stays within a NATS message', () => {
    const reply = pollReply([
      assembleTask('ns', 'q', { ...run(10), runId: 'a' }, []),
      assembleTask('ns', 'q', { ...run(400_000), runId: 'b' }, []),
      assembleTask('ns', 'q', { ...run(400_000), runId: 'c' }, []),
      assembleTask('ns', 'q', { ...run(10), runId: 'd' }, []),
    ]);
    expect(taskFromBus(reply.task!).runId).toBe('a');
    expect(reply.payloadsOmitted).toBeUndefined();
    expect(reply.moreTasks!.map((m) => [taskFromBus(m.task).runId, !!m.payloadsOmitted])).toEqual([
      ['b', false],
      // b's 400 kB (533 kB as base64) leave too little of the budget for c's: c's input is loaded by the frontend.
      ['c', true],
      ['d', false],
    ]);
    expect(reply.moreTasks![1]!.task.input).toBeUndefined();
    expect(pollReply([])).toEqual({});
  });
});
