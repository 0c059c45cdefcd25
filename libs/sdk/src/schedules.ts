import { BatonError, checkKnownFields, describeValue, loneSurrogatePath } from '@baton/contracts';
import type { RequestOf, ResponseOf, Schedule as ScheduleMessage, ServiceName, UnaryMethod } from '@baton/proto';
import type { CallOptions, Transport } from './transport';
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

/**
 * Options as given by the caller: an unknown key (`queueName` for `queue`)
 * is refused here, since the wire would silently drop it.
 */
export function checkOptions(options: object, known: readonly string[], what: string): void {
  checkKnownFields(options as Record<string, unknown>, known, `${what}.`);
}

/**
 * Why a request cannot be sent as it is: text with a lone UTF-16 surrogate,
 * which protobuf would send as U+FFFD or as invalid UTF-8 depending on its
 * length, so two distinct ids could reach the server as one.
 */
export function malformedText(request: unknown): BatonError | null {
  const bad = loneSurrogatePath(request);
  return bad === null
    ? null
    : BatonError.invalid(bad, `${bad} must be well-formed Unicode text (it has a lone UTF-16 surrogate)`);
}

/** One call to the server, refusing first any malformed text (see malformedText). */
export function sendChecked<S extends ServiceName, M extends UnaryMethod<S>>(
  transport: Pick<Transport, 'call'>,
  service: S,
  method: M,
  request: RequestOf<S, M>,
  options?: CallOptions,
): Promise<ResponseOf<S, M>> {
  const malformed = malformedText(request);
  return malformed ? Promise.reject(malformed) : transport.call(service, method, request, options);
}

const SCHEDULE_OPTIONS: ReadonlyArray<keyof ScheduleOptions> = [
  'scheduleId',
  'workflowType',
  'cron',
  'queue',
  'timezone',
  'input',
  'maxCatchup',
  'paused',
];
const UPDATE_OPTIONS = SCHEDULE_OPTIONS.filter((k) => k !== 'scheduleId' && k !== 'paused');

const date = (ms: number | undefined) => (ms === undefined ? null : new Date(ms));

function scheduleFromWire(m: ScheduleMessage): Schedule {
  return {
    namespace: m.namespace ?? '',
    scheduleId: m.scheduleId ?? '',
    workflowType: m.workflowType ?? '',
    queue: m.queue ?? '',
    cron: m.cron ?? '',
    timezone: m.timezone ?? '',
    input: decodePayload(m.input),
    maxCatchup: m.maxCatchup ?? 0,
    paused: !!m.paused,
    nextFireAt: date(m.nextFireAtMs),
    lastFiredAt: date(m.lastFiredAtMs),
    createdAt: new Date(m.createdAtMs ?? 0),
    updatedAt: new Date(m.updatedAtMs ?? 0),
  };
}

/** Cron schedules of one namespace (`client.schedules`). */
export class Schedules {
  constructor(
    private readonly transport: Transport,
    private readonly namespace: string,
  ) {}

  async create(options: ScheduleOptions): Promise<Schedule> {
    checkOptions(options, SCHEDULE_OPTIONS, 'options');
    // The wire's bool would read "false" as true: a paused flag must be a boolean.
    if (options.paused !== undefined && typeof options.paused !== 'boolean') {
      throw BatonError.invalid('paused', `paused must be true or false (got ${describeValue(options.paused)})`);
    }
    return scheduleFromWire(
      await this.call('Create', {
        namespace: this.namespace,
        ...options,
        input: encodePayload(options.input),
      }),
    );
  }

  async get(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.call('Get', { namespace: this.namespace, scheduleId }));
  }

  async list(
    options: { workflowType?: string; pageSize?: number; pageToken?: string } = {},
  ): Promise<{ schedules: Schedule[]; nextPageToken: string | null }> {
    checkOptions(options, ['workflowType', 'pageSize', 'pageToken'], 'options');
    const res = await this.call('List', { namespace: this.namespace, ...options });
    return {
      schedules: (res.schedules ?? []).map(scheduleFromWire),
      nextPageToken: res.nextPageToken || null,
    };
  }

  async update(
    scheduleId: string,
    changes: Partial<Omit<ScheduleOptions, 'scheduleId' | 'paused'>>,
  ): Promise<Schedule> {
    checkOptions(changes, UPDATE_OPTIONS, 'changes');
    return scheduleFromWire(
      await this.call('Update', {
        namespace: this.namespace,
        scheduleId,
        ...changes,
        input: encodePayload(changes.input),
      }),
    );
  }

  async pause(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.call('Pause', { namespace: this.namespace, scheduleId }));
  }

  async resume(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.call('Resume', { namespace: this.namespace, scheduleId }));
  }

  async delete(scheduleId: string): Promise<void> {
    await this.call('Delete', { namespace: this.namespace, scheduleId });
  }

  private call<M extends UnaryMethod<'schedule'>>(method: M, request: RequestOf<'schedule', M>) {
    return sendChecked(this.transport, 'schedule', method, request);
  }
}
