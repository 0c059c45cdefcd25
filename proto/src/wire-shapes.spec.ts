import { loadSync } from '@grpc/proto-loader';
import type { MethodDefinition } from '@grpc/proto-loader';
import { PROTO_FILES, PROTO_LOADER_OPTIONS, PROTO_PACKAGE, SERVICES, taskFromBus, taskToBus } from './index';
import type { PollTaskResponse, ServiceName, Services, StartRequest, Task } from './index';

/*
 * The generated types (buf.gen.yaml) claim to describe what proto-loader
 * yields with PROTO_LOADER_OPTIONS. Here a message goes through the very
 * serializers grpc-js uses and comes back as the type says: camelCase, int64
 * as numbers, bytes as Uint8Array, absent fields undefined, and the services
 * have exactly the methods the generated interfaces name.
 */

const definition = loadSync(PROTO_FILES, PROTO_LOADER_OPTIONS);

function method(service: ServiceName, name: string): MethodDefinition<object, object> {
  const found = definition[`${PROTO_PACKAGE}.${SERVICES[service]}`] as Record<string, MethodDefinition<object, object>>;
  return found[name]!;
}

/** proto-loader (oneofs: true) names each set proto3 `optional` field in a `_field` key; nothing reads it. */
function withoutOneofNames(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutOneofNames);
  if (!value || typeof value !== 'object' || value instanceof Uint8Array) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !key.startsWith('_'))
      .map(([key, v]) => [key, withoutOneofNames(v)]),
  );
}

const task: Task = {
  runId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  namespace: 'ns',
  queue: 'q',
  workflowType: 'order',
  input: { data: Buffer.from('{"a":1}'), encoding: 'json' },
  attempt: 2,
  leaseEpoch: 7,
  deadlineAtMs: 1_735_689_600_123,
  correlationId: 'c',
  traceId: 't',
  history: [
    {
      runId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      stepId: 'charge',
      seq: 0,
      kind: 'FUNCTION',
      status: 'FAILED',
      attempt: 1,
      output: { data: new Uint8Array([0, 255]), encoding: 'binary' },
      error: { message: 'declined', type: 'CardError', stack: 'at x', nonRetryable: false },
      final: false,
      retryAtMs: 1_735_689_601_000,
      startedAtMs: 1_735_689_600_000,
    },
  ],
};

describe('generated types match what proto-loader decodes', () => {
  const poll = method('worker', 'PollTask');

  test('a full Task comes back field for field: camelCase, int64 as number, bytes as Uint8Array', () => {
    const response: PollTaskResponse = { task, moreTasks: [task] };
    const decoded = poll.responseDeserialize(poll.responseSerialize(response)) as PollTaskResponse;
    expect(withoutOneofNames(decoded)).toEqual(response);
    expect(decoded.task!.input!.data).toBeInstanceOf(Uint8Array);
    expect(typeof decoded.task!.deadlineAtMs).toBe('number');
    expect(decoded.task).toMatchObject({ _deadlineAtMs: 'deadlineAtMs' });
  });

  test('absent fields are undefined (every generated field is optional); repeated fields are lists', () => {
    expect(poll.responseDeserialize(Buffer.alloc(0))).toEqual({ moreTasks: [] });
    expect(poll.responseDeserialize(poll.responseSerialize({ task: {} }))).toEqual({
      task: { history: [] },
      moreTasks: [],
    });
    const start = method('workflow', 'Start');
    const decoded = start.requestDeserialize(start.requestSerialize({ retry: {} } satisfies StartRequest));
    expect(decoded).toEqual({ retry: { nonRetryableErrors: [] } });
  });

  test('every service has exactly the methods of its generated interface, streaming where it says', () => {
    const generated: { [S in ServiceName]: Record<keyof Services[S], 'unary' | 'stream'> } = {
      workflow: {
        Start: 'unary',
        StartMany: 'unary',
        Get: 'unary',
        List: 'unary',
        Cancel: 'unary',
        Delete: 'unary',
        ListSteps: 'unary',
        WaitResult: 'unary',
        Signal: 'unary',
        Terminate: 'unary',
        Retry: 'unary',
        Reset: 'unary',
        ListHistory: 'unary',
      },
      worker: {
        Register: 'unary',
        Heartbeat: 'unary',
        Deregister: 'unary',
        PollTask: 'unary',
        BeginStep: 'unary',
        CompleteStep: 'unary',
        FailStep: 'unary',
        Sleep: 'unary',
        WaitForSignal: 'unary',
        StartChild: 'unary',
        CompleteWorkflow: 'unary',
        FailWorkflow: 'unary',
        Batch: 'unary',
        WatchCancellations: 'stream',
      },
      schedule: {
        Create: 'unary',
        Get: 'unary',
        List: 'unary',
        Update: 'unary',
        Pause: 'unary',
        Resume: 'unary',
        Delete: 'unary',
        Trigger: 'unary',
      },
      admin: {
        ListWorkers: 'unary',
        GetWorker: 'unary',
        DrainWorker: 'unary',
        QueueStats: 'unary',
        ListQueues: 'unary',
        Health: 'unary',
        ServerInfo: 'unary',
        CreateApiKey: 'unary',
        ListApiKeys: 'unary',
        RevokeApiKey: 'unary',
        SetRateLimit: 'unary',
        ListRateLimits: 'unary',
        DeleteRateLimit: 'unary',
      },
    };
    for (const service of Object.keys(SERVICES) as ServiceName[]) {
      const loaded = definition[`${PROTO_PACKAGE}.${SERVICES[service]}`] as Record<
        string,
        MethodDefinition<object, object>
      >;
      const kinds = Object.fromEntries(
        Object.entries(loaded).map(([name, m]) => [name, m.responseStream ? 'stream' : 'unary']),
      );
      expect(kinds).toEqual(generated[service]);
    }
  });
});

describe('the task on the bus', () => {
  test('survives JSON with its payload bytes intact', () => {
    const back = taskFromBus(JSON.parse(JSON.stringify(taskToBus(task))));
    expect(back).toEqual(task);
    expect(Buffer.from(back.history![0]!.output!.data!)).toEqual(Buffer.from([0, 255]));
  });

  test('carries bytes as base64 text, and empty bytes or no payload as such', () => {
    const bus = taskToBus({ ...task, history: [{ stepId: 's', output: { encoding: 'json' } }], input: undefined });
    expect(bus.history![0]!.output).toEqual({ encoding: 'json' });
    expect(JSON.parse(JSON.stringify(bus)).input).toBeUndefined();
    expect(taskToBus(task).input!.data).toBe(Buffer.from('{"a":1}').toString('base64'));
  });
});
