import type { Response } from 'supertest';
import type { TestHarness } from './test-harness';
import { waitFor } from './wait';

/** A task as the HTTP worker protocol hands it out (payloads as JSON values or base64). */
export interface RawTask {
  runId: string;
  namespace: string;
  queue: string;
  workflowType: string;
  attempt: number;
  leaseEpoch: number;
  /** The claim's lease token: every mutation of the run must carry it. */
  leaseToken: string;
  input?: unknown;
  inputBase64?: string;
  history: Array<{ stepId: string; seq: number; status: string; attempt: number; output?: unknown; final: boolean }>;
}

/**
 * A worker that speaks the worker protocol by hand over HTTP (DESIGN §6), for
 * tests whose subject is an RPC itself rather than what the SDK does with it.
 * It heartbeats for the runs it holds so the watchdog leaves them alone.
 */
export class RawWorker {
  private readonly held = new Set<string>();
  private heartbeat?: NodeJS.Timeout;

  private constructor(
    private readonly h: TestHarness,
    readonly namespace: string,
    readonly queue: string,
    readonly workflowTypes: string[],
    readonly id: string,
  ) {}

  static async register(
    h: TestHarness,
    { namespace = 'default', queue, workflowTypes }: { namespace?: string; queue: string; workflowTypes: string[] },
  ): Promise<RawWorker> {
    const res = await h
      .http()
      .post(`/v1/namespaces/${namespace}/workers`)
      .send({ queue, workflowTypes, hostname: `raw-${queue}`, pid: 1 })
      .expect(201);
    const worker = new RawWorker(h, namespace, queue, workflowTypes, res.body.workerId);
    worker.heartbeat = setInterval(() => void worker.beat(), 300);
    return worker;
  }

  private get base(): string {
    return `/v1/namespaces/${this.namespace}`;
  }

  private async beat(): Promise<void> {
    await this.h
      .http()
      .post(`${this.base}/workers/${this.id}/heartbeat`)
      .send({ activeRunIds: [...this.held] })
      .catch(() => undefined);
  }

  /** Polls until a task arrives (each long poll lasts at most the poll timeout). */
  async nextTask(timeoutMs = 15_000): Promise<RawTask> {
    const task = await waitFor(
      async () => {
        const res = await this.h
          .http()
          .post(`${this.base}/workers/${this.id}/poll`)
          .send({ queue: this.queue, workflowTypes: this.workflowTypes })
          .expect(200);
        return res.body.task as RawTask | null;
      },
      `a task on ${this.queue}`,
      { timeoutMs, intervalMs: 0 },
    );
    this.held.add(task.runId);
    return task;
  }

  begin(task: RawTask, stepId: string, seq: number): Promise<Response> {
    return this.step(task, stepId, 'begin', { seq });
  }

  complete(task: RawTask, stepId: string, seq: number, output?: unknown): Promise<Response> {
    return this.step(task, stepId, 'complete', { seq, ...(output === undefined ? {} : { output }) });
  }

  fail(task: RawTask, stepId: string, seq: number, error: object, retry?: object): Promise<Response> {
    return this.step(task, stepId, 'fail', { seq, error, ...(retry ? { retry } : {}) });
  }

  /** `extra`: more body fields, e.g. `lastStep` (the run's last step, completed with it). */
  async completeWorkflow(task: RawTask, output?: unknown, extra: object = {}): Promise<Response> {
    const res = await this.h
      .http()
      .post(`${this.base}/workflows/${task.runId}/complete`)
      .send({ ...this.lease(task), ...(output === undefined ? {} : { output }), ...extra });
    if (res.status === 200) this.held.delete(task.runId);
    return res;
  }

  /** Forget a run this worker no longer holds (e.g. parked by a step retry). */
  release(task: RawTask): void {
    this.held.delete(task.runId);
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await this.h
      .http()
      .delete(`${this.base}/workers/${this.id}`)
      .catch(() => undefined);
  }

  private lease(task: RawTask) {
    return { workerId: this.id, leaseEpoch: task.leaseEpoch, leaseToken: task.leaseToken };
  }

  private step(task: RawTask, stepId: string, verb: string, body: object): Promise<Response> {
    return this.h
      .http()
      .post(`${this.base}/workflows/${task.runId}/steps/${encodeURIComponent(stepId)}/${verb}`)
      .send({ ...this.lease(task), ...body })
      .then((res) => res);
  }
}
