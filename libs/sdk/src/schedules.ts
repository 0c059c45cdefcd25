import { BatonError, checkKnownFields, describeValue, loneSurrogatePath } from '@baton/contracts';
import type { RequestOf, ResponseOf, Schedule as ScheduleMessage, ServiceName, UnaryMethod } from '@baton/proto';
import type { CallOptions, Transport } from './transport';
import { decodePayload, encodePayload } from './payload';

/** A cron schedule to create (`client.schedules.create`). */
export interface ScheduleOptions {
  /** Your name for the schedule, unique in the namespace. */
  scheduleId: string;
  /** The workflow type each firing starts. */
  workflowType: string;
  /** Cron expression of 5 fields, or 6 with seconds (`0 3 * * *`: 03:00 every day), read in `timezone`. */
  cron: string;
  /** The task queue of the runs it starts. Default `default`. */
  queue?: string;
  /** IANA timezone; default UTC. */
  timezone?: string;
  /** The input of every run it starts (JSON, or bytes). */
  input?: unknown;
  /** Most runs fired for one catch-up of missed fire times (default 100). */
  maxCatchup?: number;
  /** Created paused: it fires once resumed. Default false. */
  paused?: boolean;
}

/** A cron schedule as the server keeps it. */
export interface Schedule {
  /** The namespace it belongs to. */
  namespace: string;
  /** Its name, unique in the namespace. */
  scheduleId: string;
  /** The workflow type each firing starts. */
  workflowType: string;
  /** The task queue of the runs it starts. */
  queue: string;
  /** Its cron expression, read in `timezone`. */
  cron: string;
  /** IANA timezone of `cron`. */
  timezone: string;
  /** The input of every run it starts. */
  input: unknown;
  /** Most runs fired for one catch-up of missed fire times. */
  maxCatchup: number;
  /** Paused: it does not fire until resumed. */
  paused: boolean;
  /** When it fires next unless paused (resuming moves it to the next cron time after now). */
  nextFireAt: Date | null;
  /** When it last fired; null before its first firing. */
  lastFiredAt: Date | null;
  /** When it was created. */
  createdAt: Date;
  /** When it was last changed. */
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
  /** Made by the client: use `client.schedules`. */
  constructor(
    private readonly transport: Transport,
    private readonly namespace: string,
  ) {}

  /**
   * Creates a schedule; it fires at its next cron time.
   *
   * @throws {@link BatonError} INVALID_ARGUMENT naming the field: an unknown option, a cron
   *   expression or timezone that is none, a name over its limit.
   * @throws {@link BatonError} ALREADY_EXISTS when the namespace has a schedule of that id.
   */
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

  /**
   * A schedule by its id.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such schedule.
   */
  async get(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.call('Get', { namespace: this.namespace, scheduleId }));
  }

  /**
   * One page of the namespace's schedules (of one workflow type, with
   * `workflowType`); `nextPageToken` (null on the last page) is the next
   * page's `pageToken`.
   *
   * @throws {@link BatonError} INVALID_ARGUMENT for an unknown option or a page token this list did not give.
   */
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

  /**
   * Changes a schedule's fields given in `changes` (pause and resume have their own calls).
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such schedule.
   * @throws {@link BatonError} INVALID_ARGUMENT naming the field, as `create`.
   */
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

  /**
   * Stops a schedule firing until `resume`; pausing a paused one changes nothing.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such schedule.
   */
  async pause(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.call('Pause', { namespace: this.namespace, scheduleId }));
  }

  /**
   * Lets a paused schedule fire again, from its next cron time after now:
   * the times it missed while paused are not caught up.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such schedule.
   */
  async resume(scheduleId: string): Promise<Schedule> {
    return scheduleFromWire(await this.call('Resume', { namespace: this.namespace, scheduleId }));
  }

  /**
   * Deletes a schedule; the runs it started are kept.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such schedule.
   */
  async delete(scheduleId: string): Promise<void> {
    await this.call('Delete', { namespace: this.namespace, scheduleId });
  }

  /**
   * Starts one run now, as a fire of the schedule would (its workflow type,
   * queue and input; the run's `scheduleId` is the schedule's), whether it is
   * paused or not. Its cron fire times are left as they are.
   *
   * @throws {@link BatonError} NOT_FOUND when the namespace has no such schedule.
   */
  async trigger(scheduleId: string): Promise<{ runId: string }> {
    const res = await this.call('Trigger', { namespace: this.namespace, scheduleId });
    return { runId: res.runId ?? '' };
  }

  private call<M extends UnaryMethod<'schedule'>>(method: M, request: RequestOf<'schedule', M>) {
    return sendChecked(this.transport, 'schedule', method, request);
  }
}
