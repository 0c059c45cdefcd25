import type { PollTaskRequest, WorkerBatchRequest, PollTaskResponse, Task } from '@baton/proto';
import type { WorkflowContext } from './context';
import type { ServerStream } from './transport';
import { Worker } from './worker';
import type { WorkerOptions } from './worker';

interface Poll {
  request: PollTaskRequest;
  reply(response: PollTaskResponse): void;
}

/**
 * The frontend as these tests script it: every PollTask waits until the test
 * answers it (or the worker aborts it); the other calls answer at once.
 */
class ScriptedServer {
  readonly polls: Poll[] = [];
  readonly outstanding = new Set<Poll>();
  readonly completed: string[] = [];
  /** The lease token each completion carried, by run. */
  readonly completedTokens = new Map<string, string | undefined>();
  readonly unexpected: string[] = [];
  /** Each PollTask that, with the polls already outstanding and the runs held, asked for more than maxConcurrent. */
  readonly overAsked: string[] = [];
  worker?: Worker;

  constructor(private readonly maxConcurrent: number) {}

  async call(_service: string, method: string, request: unknown, options: { signal?: AbortSignal } = {}) {
    switch (method) {
      case 'Register':
        return { workerId: 'w-1', heartbeatIntervalMs: 60_000, pollTimeoutMs: 30_000 };
      case 'Heartbeat':
      case 'Deregister':
        return {};
      case 'CompleteWorkflow': {
        const { lease } = request as { lease: { runId: string; leaseToken?: string } };
        this.completed.push(lease.runId);
        this.completedTokens.set(lease.runId, lease.leaseToken);
        return {};
      }
      case 'Batch':
        // Concurrent completions travel together (WorkerCalls): each answered as its lone call.
        return {
          outcomes: (request as WorkerBatchRequest).calls!.map((call) => {
            if (!call.completeWorkflow) {
              this.unexpected.push(`Batch with ${Object.keys(call).join(',')}`);
              return { error: { code: 'INTERNAL', message: 'unexpected call' } };
            }
            this.completed.push(call.completeWorkflow.lease!.runId!);
            this.completedTokens.set(call.completeWorkflow.lease!.runId!, call.completeWorkflow.lease!.leaseToken);
            return { completeWorkflow: {} };
          }),
        };
      case 'PollTask':
        return this.poll(request as PollTaskRequest, options.signal);
      default:
        this.unexpected.push(method);
        throw new Error(`unexpected call ${method}`);
    }
  }

  stream(): ServerStream {
    return { cancel: () => undefined };
  }

  close(): void {}

  private poll(request: PollTaskRequest, signal?: AbortSignal): Promise<PollTaskResponse> {
    return new Promise((resolve, reject) => {
      const poll: Poll = {
        request,
        reply: (response) => {
          this.outstanding.delete(poll);
          resolve(response);
        },
      };
      this.polls.push(poll);
      this.outstanding.add(poll);
      const reserved = [...this.outstanding].reduce((sum, p) => sum + (p.request.maxTasks ?? 1), 0);
      const held = this.worker?.activeCount ?? 0;
      if (held + reserved > this.maxConcurrent) this.overAsked.push(`${held} held + ${reserved} asked`);
      signal?.addEventListener('abort', () => {
        this.outstanding.delete(poll);
        reject(new Error('poll cancelled'));
      });
    });
  }
}

let mockServer: ScriptedServer | undefined;
jest.mock('./transport', () => ({ Transport: jest.fn(() => mockServer) }));

const task = (runId: string, workflowType = 'work'): Task => ({
  runId,
  namespace: 'default',
  queue: 'default',
  workflowType,
  leaseEpoch: 1,
  leaseToken: `token-of-${runId}`,
});

async function until(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A worker on the scripted server whose handlers each run until the test releases them. */
async function startWorker(options: WorkerOptions & { maxConcurrent: number }, types = ['work']) {
  const server = new ScriptedServer(options.maxConcurrent);
  mockServer = server;
  const errors: unknown[] = [];
  const worker = new Worker({ shutdownGraceMs: 5_000, onError: (err) => errors.push(err), ...options });
  server.worker = worker;
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  const held = (ctx: WorkflowContext) => {
    started.push(ctx.runId);
    return new Promise<string>((resolve) => releases.set(ctx.runId, () => resolve('done')));
  };
  for (const type of types) worker.register(type, held);
  await worker.start();
  const release = (runId: string) => {
    const resolve = releases.get(runId);
    if (!resolve) throw new Error(`run ${runId} is not running`);
    resolve();
  };
  return { server, worker, errors, started, release, releaseAll: () => [...releases.keys()].forEach(release) };
}

let stopWorker: (() => Promise<void>) | undefined;
afterEach(async () => {
  await stopWorker?.();
  stopWorker = undefined;
  mockServer = undefined;
});

/** Starts a worker that afterEach releases and stops. */
async function worker(options: WorkerOptions & { maxConcurrent: number }, types?: string[]) {
  const started = await startWorker(options, types);
  stopWorker = async () => {
    started.releaseAll();
    await started.worker.stop();
  };
  return started;
}

describe('Worker polls for several tasks', () => {
  test('the first poll asks for every free slot; the other loops wait for capacity', async () => {
    const { server } = await worker({ maxConcurrent: 5 });
    expect(server.polls.map((p) => p.request)).toEqual([
      expect.objectContaining({ workflowTypes: ['work'], maxTasks: 5, workerId: 'w-1' }),
    ]);
  });

  test('a reply with moreTasks runs every task it carries, each to its own completion', async () => {
    const { server, started, release, errors } = await worker({ maxConcurrent: 5 });
    server.polls[0]!.reply({ task: task('r1'), moreTasks: [task('r2'), task('r3')] });
    await until('three handlers running', () => started.length === 3);
    expect(started.sort()).toEqual(['r1', 'r2', 'r3']);
    for (const runId of ['r1', 'r2', 'r3']) release(runId);
    await until('three completions', () => server.completed.length === 3);
    expect(server.completed.sort()).toEqual(['r1', 'r2', 'r3']);
    // Each run's mutations carry its own task's lease token.
    expect(Object.fromEntries(server.completedTokens)).toEqual({
      r1: 'token-of-r1',
      r2: 'token-of-r2',
      r3: 'token-of-r3',
    });
    expect(errors).toEqual([]);
    expect(server.unexpected).toEqual([]);
  });

  test('while three run, the next poll asks for the two free slots; a finished run frees one more', async () => {
    const { server, started, release } = await worker({ maxConcurrent: 5 });
    server.polls[0]!.reply({ task: task('r1'), moreTasks: [task('r2'), task('r3')] });
    await until('the next poll', () => server.polls.length === 2);
    expect(started).toHaveLength(3);
    expect(server.polls[1]!.request.maxTasks).toBe(2);
    expect(server.outstanding.size).toBe(1);

    // A loop woken by the finished run plans afresh: one slot, not what it would have asked before.
    release('r1');
    await until('a poll for the freed slot', () => server.polls.length === 3);
    expect(server.polls[2]!.request.maxTasks).toBe(1);

    // An empty reply (the poll timed out) gives its slots back to the next poll.
    server.polls[1]!.reply({});
    await until('a poll after the empty reply', () => server.polls.length === 4);
    expect(server.polls[3]!.request.maxTasks).toBe(2);
    expect(server.overAsked).toEqual([]);
  });

  test('a typeConcurrency limit caps the polls that include the type at its room', async () => {
    const { server, started } = await worker(
      { maxConcurrent: 10, maxConcurrentPolls: 1, typeConcurrency: { limited: 2 } },
      ['limited', 'free'],
    );
    expect(server.polls[0]!.request).toMatchObject({ workflowTypes: ['limited', 'free'], maxTasks: 2 });

    server.polls[0]!.reply({ task: task('l1', 'limited') });
    await until('the second poll', () => server.polls.length === 2);
    expect(server.polls[1]!.request).toMatchObject({ workflowTypes: ['limited', 'free'], maxTasks: 1 });

    // The limited type is full: the next poll leaves it out and asks for every other free slot.
    server.polls[1]!.reply({ task: task('l2', 'limited') });
    await until('the third poll', () => server.polls.length === 3);
    expect(server.polls[2]!.request).toMatchObject({ workflowTypes: ['free'], maxTasks: 8 });
    expect(started).toEqual(['l1', 'l2']);
    expect(server.overAsked).toEqual([]);
  });

  test('several loops split the slots: the limited type in one poll, the rest in another', async () => {
    const { server } = await worker({ maxConcurrent: 10, typeConcurrency: { limited: 2 } }, ['limited', 'free']);
    expect(server.polls.map((p) => p.request)).toEqual([
      expect.objectContaining({ workflowTypes: ['limited', 'free'], maxTasks: 2 }),
      expect.objectContaining({ workflowTypes: ['free'], maxTasks: 8 }),
    ]);
  });

  test('a reply carrying more tasks than asked still runs them all, and is reported', async () => {
    const { server, started, errors } = await worker({ maxConcurrent: 1 });
    expect(server.polls[0]!.request.maxTasks).toBe(1);
    server.polls[0]!.reply({ task: task('r1'), moreTasks: [task('r2')] });
    await until('both handlers running', () => started.length === 2);
    expect(errors).toEqual([
      expect.objectContaining({ message: 'the server handed out 2 tasks for a poll that asked for at most 1' }),
    ]);
    // Over its capacity: no poll until the runs finish.
    expect(server.polls).toHaveLength(1);
  });
});
