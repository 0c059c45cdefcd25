import { randomBytes } from 'node:crypto';
import { Transport } from '@baton/sdk';
import type { TestHarness } from './test-harness';

/** A task as the HTTP worker protocol hands it out. */
export interface PolledTask {
  runId: string;
  namespace: string;
  queue: string;
  workflowType: string;
  attempt: number;
  leaseEpoch: number;
  /** The claim's lease token: every mutation of the run must carry it. */
  leaseToken: string;
}

/** An HTTP answer's JSON body, read by field name (the fields these tests read are named). */
interface HttpJson {
  task?: PolledTask | null;
  moreTasks?: PolledTask[];
  error?: PollOutcome['error'];
  action?: string;
  cancelledRunIds?: string[];
  [field: string]: unknown;
}

/** What one raw HTTP poll came back with. */
export interface PollOutcome {
  status: number;
  task: PolledTask | null;
  /** Every task of the reply: `task`, then `moreTasks` (a poll with maxTasks > 1). */
  tasks: PolledTask[];
  error?: { code: string; message: string; reason?: string };
}

export interface ProtocolWorkerOptions {
  namespace?: string;
  queue: string;
  workflowTypes: string[];
  maxConcurrent?: number;
  typeConcurrency?: Record<string, number>;
  hostname?: string;
  pid?: number;
}

/**
 * A worker that speaks the worker protocol by hand, over HTTP (fetch, so a
 * poll can be aborted mid-flight) or gRPC (a call that can be cancelled). It
 * polls exactly when and as often as a test says, asks for whatever types the
 * test says (a buggy or hostile worker), and never heartbeats on its own.
 */
export class ProtocolWorker {
  private grpc?: Transport;
  private beating?: NodeJS.Timeout;
  /** Runs it received and has not completed: what its heartbeats report. */
  readonly held = new Set<string>();

  private constructor(
    private readonly h: TestHarness,
    readonly namespace: string,
    readonly queue: string,
    readonly workflowTypes: string[],
    readonly id: string,
    readonly registration: Record<string, unknown>,
  ) {}

  static async register(h: TestHarness, options: ProtocolWorkerOptions): Promise<ProtocolWorker> {
    const namespace = options.namespace ?? 'default';
    const body = {
      queue: options.queue,
      workflowTypes: options.workflowTypes,
      maxConcurrent: options.maxConcurrent ?? 100,
      typeConcurrency: options.typeConcurrency ?? {},
      hostname: options.hostname ?? `proto-${randomBytes(4).toString('hex')}`,
      pid: options.pid ?? 1,
    };
    const res = await fetch(`${h.httpUrl}/v1/namespaces/${encodeURIComponent(namespace)}/workers`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { workerId: string };
    if (res.status !== 201) throw new Error(`register answered ${res.status}: ${JSON.stringify(json)}`);
    return new ProtocolWorker(h, namespace, options.queue, options.workflowTypes, json.workerId, body);
  }

  /** Heartbeats every second (reporting the runs it holds) until close(), as a live worker does. */
  keepAlive(): this {
    this.beating ??= setInterval(() => void this.heartbeat([...this.held]).catch(() => undefined), 1_000);
    this.beating.unref();
    ProtocolWorker.open.add(this);
    return this;
  }

  private static readonly open = new Set<ProtocolWorker>();

  /** Stops every worker's heartbeats and channels (for afterAll). */
  static closeAll(): void {
    for (const worker of ProtocolWorker.open) worker.close();
    ProtocolWorker.open.clear();
  }

  private url(path: string): string {
    return `${this.h.httpUrl}/v1/namespaces/${encodeURIComponent(this.namespace)}${path}`;
  }

  private async post(path: string, body: object, signal?: AbortSignal): Promise<{ status: number; json: HttpJson }> {
    const res = await fetch(this.url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    return { status: res.status, json: (await res.json().catch(() => null)) as HttpJson };
  }

  /** One long poll over HTTP (at most the poll timeout). Rejects with AbortError if `signal` fires first. */
  async poll(
    options: { types?: string[]; queue?: string; maxTasks?: number; signal?: AbortSignal } = {},
  ): Promise<PollOutcome> {
    const { status, json } = await this.post(
      `/workers/${this.id}/poll`,
      {
        queue: options.queue ?? this.queue,
        workflowTypes: options.types ?? this.workflowTypes,
        ...(options.maxTasks === undefined ? {} : { maxTasks: options.maxTasks }),
      },
      options.signal,
    );
    const task = (json?.task as PolledTask | null) ?? null;
    const tasks = task ? [task, ...(json?.moreTasks ?? [])] : [];
    for (const t of tasks) this.held.add(t.runId);
    return { status, task, tasks, error: json?.error };
  }

  /** Polls (one at a time) until a task arrives or `timeoutMs` passes. */
  async pollUntilTask(timeoutMs = 15_000, types?: string[]): Promise<PolledTask> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const outcome = await this.poll({ types });
      if (outcome.status !== 200) throw new Error(`poll answered ${outcome.status}: ${JSON.stringify(outcome.error)}`);
      if (outcome.task) return outcome.task;
    }
    throw new Error(`no task on ${this.queue} within ${timeoutMs} ms`);
  }

  /** One long poll over gRPC; `signal` cancels the call. Resolves to the raw response. */
  grpcPoll(options: { types?: string[]; queue?: string; maxTasks?: number; signal?: AbortSignal } = {}) {
    this.grpc ??= new Transport(this.h.grpcAddress);
    ProtocolWorker.open.add(this);
    return this.grpc
      .call(
        'worker',
        'PollTask',
        {
          namespace: this.namespace,
          queue: options.queue ?? this.queue,
          workerId: this.id,
          workflowTypes: options.types ?? this.workflowTypes,
          maxTasks: options.maxTasks,
        },
        { timeoutMs: 30_000, signal: options.signal },
      )
      .then((res) => {
        for (const task of [res.task, ...(res.moreTasks ?? [])]) if (task?.runId) this.held.add(task.runId);
        return res;
      });
  }

  async heartbeat(activeRunIds: string[] = []): Promise<{ status: number; json: HttpJson }> {
    return this.post(`/workers/${this.id}/heartbeat`, { activeRunIds });
  }

  /** CompleteWorkflow under the task's lease: the HTTP status (200, or 409 once the lease is lost). */
  async complete(
    task: Pick<PolledTask, 'runId' | 'leaseEpoch' | 'leaseToken'>,
    output: unknown = null,
  ): Promise<number> {
    this.held.delete(task.runId);
    const { status } = await this.post(`/workflows/${task.runId}/complete`, {
      workerId: this.id,
      leaseEpoch: task.leaseEpoch,
      leaseToken: task.leaseToken,
      output,
    });
    return status;
  }

  async deregister(drain = false): Promise<number> {
    const res = await fetch(this.url(`/workers/${this.id}${drain ? '?drain=true' : ''}`), { method: 'DELETE' });
    await res.body?.cancel();
    return res.status;
  }

  close(): void {
    clearInterval(this.beating);
    this.grpc?.close();
  }
}

/** One raw HTTP poll in the name of any worker id (e.g. an SDK worker's, after it drained). */
export async function pollAs(
  h: TestHarness,
  workerId: string,
  { namespace = 'default', queue, types }: { namespace?: string; queue: string; types: string[] },
): Promise<PollOutcome> {
  const res = await fetch(`${h.httpUrl}/v1/namespaces/${encodeURIComponent(namespace)}/workers/${workerId}/poll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ queue, workflowTypes: types }),
  });
  const json = (await res.json().catch(() => null)) as HttpJson | null;
  const task = json?.task ?? null;
  return { status: res.status, task, tasks: task ? [task, ...(json?.moreTasks ?? [])] : [], error: json?.error };
}
