import type { Transport } from './transport';
import { decodePayload, encodePayload } from './payload';

export interface ScheduleOptions {
  scheduleId: string;
  workflowType: string;
  cron: string;
  queue?: string;
  /** IANA timezone; default UTC. */
  timezone?: string;
  input?: unknown;
  /** Most runs fired for one catch-up of missed fire times (default 100). */
  maxCatchup?: number;
  paused?: boolean;
}

export interface Schedule {
  namespace: string;
  scheduleId: string;
  workflowType: string;
  queue: string;
  cron: string;
  timezone: string;
  input: unknown;
  maxCatchup: number;
  paused: boolean;
  nextFireAt: Date | null;
  lastFiredAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

const date = (ms: unknown) => (ms === undefined || ms === null ? null : new Date(Number(ms)));

function scheduleFromWire(m: any): Schedule {
  return {
    namespace: m.namespace,
    scheduleId: m.scheduleId,
    workflowType: m.workflowType,
    queue: m.queue,
    cron: m.cron,
    timezone: m.timezone,
    input: decodePayload(m.input),
    maxCatchup: m.maxCatchup ?? 0,
    paused: !!m.paused,
    nextFireAt: date(m.nextFireAtMs),
    lastFiredAt: date(m.lastFiredAtMs),
    createdAt: date(m.createdAtMs)!,
    updatedAt: date(m.updatedAtMs)!,
  };
}

/** Cron schedules of one namespace (`client.schedules`). */
export class Schedules {
  constructor(
    private readonly transport: Transport,
    private readonly namespace: string,
  ) {}

  async create(options: ScheduleOptions): Promise<Schedule> {
    return scheduleFromWire(
      await this.transport.call('schedule', 'Create', {
        namespace: this.namespace,
        ...options,
        input: encodePayload(options.input),
      }),
    );
  }

  async get(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.transport.call('schedule', 'Get', { namespace: this.namespace, scheduleId }));
  }

  async list(
    options: { workflowType?: string; pageSize?: number; pageToken?: string } = {},
  ): Promise<{ schedules: Schedule[]; nextPageToken: string | null }> {
    const res = await this.transport.call('schedule', 'List', { namespace: this.namespace, ...options });
    return {
      schedules: (res.schedules ?? []).map(scheduleFromWire),
      nextPageToken: (res.nextPageToken as string) || null,
    };
  }

  async update(
    scheduleId: string,
    changes: Partial<Omit<ScheduleOptions, 'scheduleId' | 'paused'>>,
  ): Promise<Schedule> {
    return scheduleFromWire(
      await this.transport.call('schedule', 'Update', {
        namespace: this.namespace,
        scheduleId,
        ...changes,
        input: encodePayload(changes.input),
      }),
    );
  }

  async pause(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.transport.call('schedule', 'Pause', { namespace: this.namespace, scheduleId }));
  }

  async resume(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.transport.call('schedule', 'Resume', { namespace: this.namespace, scheduleId }));
  }

  async delete(scheduleId: string): Promise<void> {
    await this.transport.call('schedule', 'Delete', { namespace: this.namespace, scheduleId });
  }
}
