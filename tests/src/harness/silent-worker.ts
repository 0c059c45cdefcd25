import type { TestHarness } from './test-harness';
import { waitFor } from './wait';

/** A task as the HTTP worker protocol hands it out. */
export interface ClaimedTask {
  runId: string;
  namespace: string;
  queue: string;
  workflowType: string;
  attempt: number;
  leaseEpoch: number;
  /** The claim's lease token: every mutation of the run must carry it. */
  leaseToken: string;
  deadlineAt: string | null;
  history: Array<{ stepId: string; seq: number; kind: string; status: string; wakeUpAt: string | null }>;
}

/**
 * A worker that speaks the HTTP worker protocol by hand and never heartbeats
 * unless told to: it claims runs and then goes silent, which is how a crashed
 * or partitioned worker looks to the server (its leases expire, or it turns
 * stale). Every call is explicit so tests can act at exact moments.
 */
export class SilentWorker {
  private constructor(
    private readonly h: TestHarness,
    readonly namespace: string,
    readonly queue: string,
    readonly workflowTypes: string[],
    readonly id: string,
  ) {}

  static async register(
    h: TestHarness,
    {
      namespace = 'default',
      queue,
      workflowTypes,
      maxConcurrent = 100,
    }: { namespace?: string; queue: string; workflowTypes: string[]; maxConcurrent?: number },
  ): Promise<SilentWorker> {
    const res = await h
      .http()
      .post(`/v1/namespaces/${namespace}/workers`)
      .send({ queue, workflowTypes, maxConcurrent, hostname: `silent-${queue}-${h.unique('w')}`, pid: 1 })
      .expect(201);
    return new SilentWorker(h, namespace, queue, workflowTypes, res.body.workerId);
  }

  private get base(): string {
    return `/v1/namespaces/${this.namespace}`;
  }

  /** One long poll (at most the poll timeout): a task or null. */
  async poll(): Promise<ClaimedTask | null> {
    const res = await this.h
      .http()
      .post(`${this.base}/workers/${this.id}/poll`)
      .send({ queue: this.queue, workflowTypes: this.workflowTypes });
    if (res.status !== 200) throw new Error(`poll answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body.task as ClaimedTask | null;
  }

  /**
   * Polls until a task arrives, then acknowledges it as the SDK does (a
   * heartbeat naming the run turns the claim's short first lease into a full
   * one); `acknowledge: false` leaves it undelivered, as when the reply was lost.
   */
  async claim(timeoutMs = 15_000, { acknowledge = true }: { acknowledge?: boolean } = {}): Promise<ClaimedTask> {
    const task = await waitFor(() => this.poll(), `a task on ${this.queue}`, { timeoutMs, intervalMs: 0 });
    if (acknowledge) await this.acknowledge([task.runId]);
    return task;
  }

  /** Acknowledges delivery of these runs (a heartbeat naming them); throws unless every one was still held. */
  async acknowledge(runIds: string[]): Promise<void> {
    const res = await this.heartbeat(runIds);
    if (res.status !== 200 || (res.body.cancelledRunIds ?? []).length > 0) {
      throw new Error(`acknowledging ${runIds.join(', ')} answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
  }

  /**
   * Claims exactly `n` distinct tasks with `n` polls in flight at once. While
   * the others are still being claimed it heartbeats for the ones it holds, so
   * a short lease cannot run out (and the run come back) in between; once it
   * returns the worker is silent again.
   */
  async claimMany(n: number, timeoutMs = 15_000): Promise<ClaimedTask[]> {
    const held: string[] = [];
    const beats: Array<Promise<unknown>> = [];
    const beating = setInterval(() => beats.push(this.heartbeat([...held]).then(undefined, () => undefined)), 200);
    try {
      const tasks = await Promise.all(
        Array.from({ length: n }, async () => {
          const task = await this.claim(timeoutMs, { acknowledge: false });
          held.push(task.runId);
          return task;
        }),
      );
      if (new Set(held).size !== n) throw new Error(`claimed a run twice: ${held.join(', ')}`);
      await this.acknowledge(held);
      return tasks;
    } finally {
      clearInterval(beating);
      await Promise.all(beats); // none lands after this returns
    }
  }

  heartbeat(activeRunIds: string[] = []) {
    return this.h.http().post(`${this.base}/workers/${this.id}/heartbeat`).send({ activeRunIds });
  }

  /** The body fields naming the task's lease. */
  lease(task: ClaimedTask) {
    return { workerId: this.id, leaseEpoch: task.leaseEpoch, leaseToken: task.leaseToken };
  }

  completeWorkflow(task: ClaimedTask, output?: unknown) {
    return this.h
      .http()
      .post(`${this.base}/workflows/${task.runId}/complete`)
      .send({ ...this.lease(task), ...(output === undefined ? {} : { output }) });
  }

  completeStep(task: ClaimedTask, stepId: string, seq: number, output?: unknown) {
    return this.h
      .http()
      .post(`${this.base}/workflows/${task.runId}/steps/${encodeURIComponent(stepId)}/complete`)
      .send({ ...this.lease(task), seq, ...(output === undefined ? {} : { output }) });
  }

  sleep(task: ClaimedTask, stepId: string, seq: number, durationMs: unknown, extra: Record<string, unknown> = {}) {
    return this.h
      .http()
      .post(`${this.base}/workflows/${task.runId}/sleep`)
      .send({ ...this.lease(task), stepId, seq, durationMs, ...extra });
  }

  deregister() {
    return this.h.http().delete(`${this.base}/workers/${this.id}`);
  }
}
