import type { StepView } from '@baton/contracts';
import type { ClaimedRun } from '@baton/persistence';
import { assembleTask } from './task-assembler';

const run = (inputBytes: number): ClaimedRun => ({
  waiter: 0,
  runId: 'r',
  workerId: 'w',
  workflowType: 't',
  attempt: 1,
  leaseEpoch: 3,
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
  startedAt: new Date(0),
  finishedAt: null,
});

describe('assembleTask', () => {
  test('small tasks carry their input and history inline, base64-encoded', () => {
    const task = assembleTask('ns', 'q', run(10), [step(5)]);
    expect(task.payloadsOmitted).toBe(false);
    expect(Buffer.from(task.input!.data, 'base64')).toEqual(Buffer.alloc(10, 1));
    expect(task.history).toHaveLength(1);
    expect(task.leaseEpoch).toBe(3);
  });

  test('a task too big for a NATS message travels without payloads, for the frontend to load', () => {
    const task = assembleTask('ns', 'q', run(2 * 1024 * 1024), []);
    expect(task.payloadsOmitted).toBe(true);
    expect(task.input).toBeNull();
    const withBigHistory = assembleTask('ns', 'q', run(10), [step(400_000), step(400_000)]);
    expect(withBigHistory.payloadsOmitted).toBe(true);
    expect(withBigHistory.history).toEqual([]);
  });
});
