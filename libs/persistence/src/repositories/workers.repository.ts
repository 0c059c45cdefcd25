import { BatonError, ErrorReason, WorkerStatus, uuidv7 } from '@baton/contracts';
import type { WorkerView } from '@baton/contracts';
import type { Sql } from '../sql';
import { toWorkerView } from '../rows';
import { deregisterAndHandBack, heartbeat } from '../transitions';
import type { HeartbeatResult } from '../transitions';

export interface RegisterWorkerCommand {
  namespace: string;
  queue: string;
  hostname: string;
  pid: number;
  version: string;
  workflowTypes: string[];
  maxConcurrent: number;
  typeConcurrency: Record<string, number>;
  labels: Record<string, string>;
}

// Re-registering the same (namespace, queue, hostname, pid) while it is not
// OFFLINE updates that row, so the worker keeps its id.
const REGISTER = `
  INSERT INTO workers (id, namespace, task_queue, hostname, pid, version, workflow_types, max_concurrent,
                       type_concurrency, labels, status)
  VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8, $9::jsonb, $10::jsonb, 'ONLINE')
  ON CONFLICT (namespace, task_queue, hostname, pid) WHERE status <> 'OFFLINE' DO UPDATE
  SET version = excluded.version, workflow_types = excluded.workflow_types, max_concurrent = excluded.max_concurrent,
      type_concurrency = excluded.type_concurrency, labels = excluded.labels, status = 'ONLINE',
      last_heartbeat_at = now(), updated_at = now()
  RETURNING *`;

export class WorkersRepository {
  constructor(private readonly sql: Sql) {}

  async register(cmd: RegisterWorkerCommand): Promise<WorkerView> {
    const [row] = await this.sql.rows(REGISTER, [
      uuidv7(),
      cmd.namespace,
      cmd.queue,
      cmd.hostname,
      cmd.pid,
      cmd.version,
      cmd.workflowTypes,
      cmd.maxConcurrent,
      JSON.stringify(cmd.typeConcurrency),
      JSON.stringify(cmd.labels),
    ]);
    return toWorkerView(row!);
  }

  async heartbeat(
    namespace: string,
    workerId: string,
    activeRunIds: string[],
    leaseMs: number,
  ): Promise<HeartbeatResult> {
    return heartbeat(this.sql, namespace, workerId, activeRunIds, leaseMs);
  }

  /**
   * drain: ONLINE → DRAINING (no new work; it finishes what it holds).
   * Otherwise → OFFLINE, and runs it still holds are handed back at once.
   */
  async deregister(namespace: string, workerId: string, drain: boolean): Promise<WorkerView> {
    if (drain) {
      const [row] = await this.sql.rows(
        `UPDATE workers SET status = 'DRAINING', updated_at = now()
         WHERE id = $1 AND namespace = $2 AND status = 'ONLINE' RETURNING *`,
        [workerId, namespace],
      );
      if (row) return toWorkerView(row);
    } else {
      const row = await deregisterAndHandBack(this.sql, namespace, workerId);
      if (row) return toWorkerView(row);
    }
    return this.getOrThrow(namespace, workerId);
  }

  async get(namespace: string, workerId: string): Promise<WorkerView | null> {
    const rows = await this.sql.rows(`SELECT * FROM workers WHERE id = $1 AND namespace = $2`, [workerId, namespace]);
    return rows.length ? toWorkerView(rows[0]!) : null;
  }

  async getOrThrow(namespace: string, workerId: string): Promise<WorkerView> {
    const worker = await this.get(namespace, workerId);
    if (!worker) throw BatonError.notFound(`worker ${workerId}`);
    return worker;
  }

  async list(
    namespace: string,
    filter: { queue?: string; status?: WorkerStatus },
    limit: number,
  ): Promise<WorkerView[]> {
    const rows = await this.sql.rows(
      `SELECT * FROM workers WHERE namespace = $1 AND ($2::text IS NULL OR task_queue = $2)
         AND ($3::text IS NULL OR status = $3)
       ORDER BY registered_at DESC, id DESC LIMIT $4`,
      [namespace, filter.queue ?? null, filter.status ?? null, limit],
    );
    return rows.map(toWorkerView);
  }

  /** A poll is served only for an ONLINE worker on the namespace and queue it registered. */
  async requirePollable(workerId: string, namespace: string, queue: string): Promise<WorkerView> {
    const rows = await this.sql.rows(`SELECT * FROM workers WHERE id = $1`, [workerId]);
    const worker = rows.length ? toWorkerView(rows[0]!) : null;
    const reregister = (why: string) =>
      BatonError.precondition(`${why}; register the worker again`, ErrorReason.WORKER_REREGISTER);
    if (!worker) throw reregister(`worker ${workerId} is not registered`);
    if (worker.namespace !== namespace || worker.queue !== queue) {
      throw reregister(`worker ${workerId} is registered on another namespace or queue`);
    }
    if (worker.status === WorkerStatus.DRAINING) {
      throw BatonError.precondition(`worker ${workerId} is DRAINING: it gets no new work`, ErrorReason.WORKER_DRAINING);
    }
    if (worker.status !== WorkerStatus.ONLINE) throw reregister(`worker ${workerId} is ${worker.status}`);
    return worker;
  }
}
