import { BatonError, ErrorCode, checkSchedulesPageToken, uuidv7 } from '@baton/contracts';
import type { Payload, ScheduleView } from '@baton/contracts';
import type { Row, Sql } from '../sql';
import { decodeCursor, encodeCursor, payloadOf } from '../rows';
import type { Page } from '../rows';

export interface CreateScheduleCommand {
  namespace: string;
  scheduleId: string;
  workflowType: string;
  queue: string;
  cron: string;
  timezone: string;
  input: Payload | null;
  maxCatchup: number;
  paused: boolean;
  nextFireAt: Date;
}

export interface UpdateScheduleCommand {
  cron: string;
  timezone: string;
  workflowType: string;
  queue: string;
  input: Payload | null;
  maxCatchup: number;
  nextFireAt: Date;
}

/** What the scheduler decided for one due schedule, inside its claim transaction. */
export interface FirePlan {
  fireTimes: Date[];
  nextFireAt: Date;
}

export interface FiredRun {
  id: string;
  namespace: string;
  queue: string;
  workflowType: string;
  /** An older missed fire time, fired late on purpose (catch-up), rather than the latest one due. */
  catchUp: boolean;
  /** Seconds between the fire time and the firing, by the database's clock. */
  lateS: number;
}

function toScheduleView(row: Row): ScheduleView {
  return {
    namespace: row.namespace,
    scheduleId: row.schedule_id,
    workflowType: row.workflow_type,
    queue: row.task_queue,
    cron: row.cron,
    timezone: row.timezone,
    input: payloadOf(row.input, row.input_encoding),
    maxCatchup: row.max_catchup,
    paused: row.paused,
    nextFireAt: row.next_fire_at,
    lastFiredAt: row.last_fired_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// One run per (schedule, fire time): the unique index makes firing idempotent
// across scheduler replicas and retries.
const FIRE = `
  WITH fired AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, schedule_id, fire_time)
    SELECT ids.id, $2, $3, $4, 'PENDING', $1, ids.fire_time
    FROM unnest($5::uuid[], $6::timestamptz[]) AS ids(id, fire_time)
    -- A fire time at or before the last one fired already ran, even if retention purged its run
    -- (the unique key below only remembers runs that still exist).
    WHERE NOT EXISTS (SELECT 1 FROM schedules s WHERE s.id = $1 AND s.last_fired_at >= ids.fire_time)
    ON CONFLICT (schedule_id, fire_time) WHERE schedule_id IS NOT NULL DO NOTHING
    RETURNING id, fire_time
  ), payloads AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT fired.id, s.input, s.input_encoding FROM fired, schedules s WHERE s.id = $1
  )
  SELECT id, fire_time FROM fired`;

// A fire on demand: one run now, with the schedule's type, queue and input. Its fire time is the
// statement's own clock, so it never takes the key of a cron fire time; last_fired_at is left alone,
// so no due fire time is skipped. `found` tells a missing schedule from an insert that did not happen.
const TRIGGER = `
  WITH s AS (
    SELECT id, namespace, task_queue, workflow_type, input, input_encoding
    FROM schedules WHERE namespace = $1 AND schedule_id = $2
  ), fired AS (
    INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, schedule_id, fire_time)
    SELECT $3, s.namespace, s.task_queue, s.workflow_type, 'PENDING', s.id, clock_timestamp() FROM s
    ON CONFLICT (schedule_id, fire_time) WHERE schedule_id IS NOT NULL DO NOTHING
    RETURNING id, namespace, task_queue, workflow_type
  ), payloads AS (
    INSERT INTO workflow_payloads (run_id, input, input_encoding)
    SELECT fired.id, s.input, s.input_encoding FROM fired, s
  )
  SELECT fired.*, true AS found FROM fired
  UNION ALL
  SELECT NULL, NULL, NULL, NULL, EXISTS (SELECT 1 FROM s) WHERE NOT EXISTS (SELECT 1 FROM fired)`;

export class SchedulesRepository {
  constructor(private readonly sql: Sql) {}

  async create(cmd: CreateScheduleCommand): Promise<ScheduleView> {
    const rows = await this.sql.rows(
      `INSERT INTO schedules (id, namespace, schedule_id, workflow_type, task_queue, cron, timezone, input,
                              input_encoding, max_catchup, paused, next_fire_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::bytea, $9, $10, $11, $12)
       ON CONFLICT (namespace, schedule_id) DO NOTHING RETURNING *`,
      [
        uuidv7(),
        cmd.namespace,
        cmd.scheduleId,
        cmd.workflowType,
        cmd.queue,
        cmd.cron,
        cmd.timezone,
        cmd.input?.data ?? null,
        cmd.input?.encoding ?? null,
        cmd.maxCatchup,
        cmd.paused,
        cmd.nextFireAt,
      ],
    );
    if (rows.length === 0) {
      throw new BatonError(ErrorCode.ALREADY_EXISTS, `schedule "${cmd.scheduleId}" already exists`, {
        field: 'scheduleId',
      });
    }
    return toScheduleView(rows[0]!);
  }

  async get(namespace: string, scheduleId: string): Promise<ScheduleView> {
    const rows = await this.sql.rows(`SELECT * FROM schedules WHERE namespace = $1 AND schedule_id = $2`, [
      namespace,
      scheduleId,
    ]);
    if (rows.length === 0) throw BatonError.notFound(`schedule "${scheduleId}"`);
    return toScheduleView(rows[0]!);
  }

  async list(
    namespace: string,
    filter: { workflowType?: string },
    pageSize: number,
    pageToken: string | null,
  ): Promise<Page<ScheduleView>> {
    let after = '';
    if (pageToken) {
      after = decodeCursor(checkSchedulesPageToken(pageToken)!, ['s'])!.s!;
    }
    const rows = await this.sql.rows(
      `SELECT * FROM schedules WHERE namespace = $1 AND ($2::text IS NULL OR workflow_type = $2) AND schedule_id > $3
       ORDER BY schedule_id LIMIT $4`,
      [namespace, filter.workflowType ?? null, after, pageSize + 1],
    );
    const more = rows.length > pageSize;
    const items = (more ? rows.slice(0, pageSize) : rows).map(toScheduleView);
    return { items, nextPageToken: more ? encodeCursor({ s: items[items.length - 1]!.scheduleId }) : null };
  }

  async update(namespace: string, scheduleId: string, cmd: UpdateScheduleCommand): Promise<ScheduleView> {
    const rows = await this.sql.rows(
      `UPDATE schedules SET cron = $3, timezone = $4, workflow_type = $5, task_queue = $6, input = $7::bytea,
              input_encoding = $8, max_catchup = $9, next_fire_at = $10, updated_at = now()
       WHERE namespace = $1 AND schedule_id = $2 RETURNING *`,
      [
        namespace,
        scheduleId,
        cmd.cron,
        cmd.timezone,
        cmd.workflowType,
        cmd.queue,
        cmd.input?.data ?? null,
        cmd.input?.encoding ?? null,
        cmd.maxCatchup,
        cmd.nextFireAt,
      ],
    );
    if (rows.length === 0) throw BatonError.notFound(`schedule "${scheduleId}"`);
    return toScheduleView(rows[0]!);
  }

  /** Pausing stops firing; resuming starts from the next fire time after now (no catch-up of the pause). */
  async setPaused(
    namespace: string,
    scheduleId: string,
    paused: boolean,
    nextFireAt: Date | null,
  ): Promise<ScheduleView> {
    const rows = await this.sql.rows(
      `UPDATE schedules SET paused = $3, next_fire_at = coalesce($4, next_fire_at), updated_at = now()
       WHERE namespace = $1 AND schedule_id = $2 RETURNING *`,
      [namespace, scheduleId, paused, nextFireAt],
    );
    if (rows.length === 0) throw BatonError.notFound(`schedule "${scheduleId}"`);
    return toScheduleView(rows[0]!);
  }

  async delete(namespace: string, scheduleId: string): Promise<void> {
    const rows = await this.sql.rows(`DELETE FROM schedules WHERE namespace = $1 AND schedule_id = $2 RETURNING id`, [
      namespace,
      scheduleId,
    ]);
    if (rows.length === 0) throw BatonError.notFound(`schedule "${scheduleId}"`);
  }

  /**
   * Starts one run of the schedule now (paused or not), leaving its cron
   * fire times as they are. NOT_FOUND when there is no such schedule.
   */
  async trigger(namespace: string, scheduleId: string): Promise<FiredRun> {
    const [row] = await this.sql.rows(TRIGGER, [namespace, scheduleId, uuidv7()]);
    if (!row?.found) throw BatonError.notFound(`schedule "${scheduleId}"`);
    // Lost only to another trigger of the same schedule at the same microsecond.
    if (!row.id) {
      throw new BatonError(
        ErrorCode.UNAVAILABLE,
        `schedule "${scheduleId}" was triggered at this very instant; try again`,
      );
    }
    return {
      id: row.id,
      namespace: row.namespace,
      queue: row.task_queue,
      workflowType: row.workflow_type,
      catchUp: false,
      lateS: 0,
    };
  }

  /**
   * Fires due schedules: claims up to `batchSize` of them (SKIP LOCKED, so
   * replicas split the work), asks `plan` which fire times are due, inserts one
   * run per fire time (duplicates are skipped by the unique key) and advances
   * next_fire_at, all in one transaction per batch.
   */
  async fireDue(batchSize: number, plan: (schedule: ScheduleView, now: Date) => FirePlan): Promise<FiredRun[]> {
    return this.sql.transaction(async (q) => {
      const due = await q.rows(
        `SELECT *, now() AS db_now FROM schedules WHERE NOT paused AND next_fire_at <= now()
         ORDER BY next_fire_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      const fired: FiredRun[] = [];
      for (const row of due) {
        const schedule = toScheduleView(row);
        const { fireTimes, nextFireAt } = plan(schedule, row.db_now);
        if (fireTimes.length > 0) {
          const ids = fireTimes.map(() => uuidv7());
          const rows = await q.rows<{ id: string; fire_time: Date }>(FIRE, [
            row.id,
            schedule.namespace,
            schedule.queue,
            schedule.workflowType,
            ids,
            fireTimes,
          ]);
          const latest = fireTimes[fireTimes.length - 1]!.getTime();
          fired.push(
            ...rows.map((r) => ({
              id: r.id,
              namespace: schedule.namespace,
              queue: schedule.queue,
              workflowType: schedule.workflowType,
              catchUp: r.fire_time.getTime() < latest,
              lateS: (row.db_now.getTime() - r.fire_time.getTime()) / 1000,
            })),
          );
        }
        await q.rows(
          `UPDATE schedules SET next_fire_at = $2, last_fired_at = coalesce($3, last_fired_at), updated_at = now()
           WHERE id = $1`,
          [row.id, nextFireAt, fireTimes[fireTimes.length - 1] ?? null],
        );
      }
      return fired;
    });
  }
}
