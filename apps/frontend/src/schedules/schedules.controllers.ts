import { Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { Role, payloadMessage } from '@baton/contracts';
import type { ScheduleView } from '@baton/contracts';
import type {
  CreateScheduleRequest,
  DeleteScheduleResponse,
  GetScheduleRequest,
  ListSchedulesRequest,
  ListSchedulesResponse,
  Schedule,
  TriggerScheduleResponse,
  UpdateScheduleRequest,
} from '@baton/proto';
import { BODY_FIELDS, HttpBody, HttpQuery, QUERY_FIELDS } from '../edge/http-input';
import { fromGrpcPayload, fromHttpPayload, toHttpPayload } from '../edge/payloads';
import { Rpc } from '../edge/rpc';
import { checkCreateSchedule, checkListSchedules, checkScheduleRef, checkUpdateSchedule } from '../edge/schedules';
import { SchedulesService } from './schedules.service';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';

type Raw = Record<string, unknown>;

const ms = (d: Date | null) => (d ? d.getTime() : undefined);
const iso = (d: Date | null) => (d ? d.toISOString() : null);

function scheduleToGrpc(s: ScheduleView): Schedule {
  return {
    namespace: s.namespace,
    scheduleId: s.scheduleId,
    workflowType: s.workflowType,
    queue: s.queue,
    cron: s.cron,
    timezone: s.timezone,
    input: payloadMessage(s.input),
    maxCatchup: s.maxCatchup,
    paused: s.paused,
    nextFireAtMs: ms(s.nextFireAt),
    lastFiredAtMs: ms(s.lastFiredAt),
    createdAtMs: s.createdAt.getTime(),
    updatedAtMs: s.updatedAt.getTime(),
  };
}

function scheduleToHttp(s: ScheduleView) {
  return {
    ...s,
    input: undefined,
    ...toHttpPayload(s.input, 'input'),
    nextFireAt: iso(s.nextFireAt),
    lastFiredAt: iso(s.lastFiredAt),
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

@Controller()
@Access(Role.CLIENT, InNamespace.field)
export class SchedulesGrpcController {
  constructor(private readonly schedules: SchedulesService) {}

  @Rpc('schedule', 'Create')
  async create(req: CreateScheduleRequest): Promise<Schedule> {
    const input = fromGrpcPayload(req.input, 'input', this.schedules.payloadLimit);
    checkCreateSchedule(req.namespace, req);
    return scheduleToGrpc(await this.schedules.create(req.namespace, req, input));
  }

  @Rpc('schedule', 'Get')
  async get(req: GetScheduleRequest): Promise<Schedule> {
    checkScheduleRef(req.namespace, req.scheduleId);
    return scheduleToGrpc(await this.schedules.get(req.namespace, req.scheduleId));
  }

  @Rpc('schedule', 'List')
  async list(req: ListSchedulesRequest): Promise<ListSchedulesResponse> {
    checkListSchedules(req.namespace, req);
    const page = await this.schedules.list(req.namespace, req);
    return { schedules: page.items.map(scheduleToGrpc), nextPageToken: page.nextPageToken ?? '' };
  }

  @Rpc('schedule', 'Update')
  async update(req: UpdateScheduleRequest): Promise<Schedule> {
    const input = fromGrpcPayload(req.input, 'input', this.schedules.payloadLimit);
    checkUpdateSchedule(req.namespace, req.scheduleId, req);
    return scheduleToGrpc(await this.schedules.update(req.namespace, req.scheduleId, req, input));
  }

  @Rpc('schedule', 'Pause')
  async pause(req: GetScheduleRequest): Promise<Schedule> {
    checkScheduleRef(req.namespace, req.scheduleId);
    return scheduleToGrpc(await this.schedules.setPaused(req.namespace, req.scheduleId, true));
  }

  @Rpc('schedule', 'Resume')
  async resume(req: GetScheduleRequest): Promise<Schedule> {
    checkScheduleRef(req.namespace, req.scheduleId);
    return scheduleToGrpc(await this.schedules.setPaused(req.namespace, req.scheduleId, false));
  }

  @Rpc('schedule', 'Delete')
  async delete(req: GetScheduleRequest): Promise<DeleteScheduleResponse> {
    checkScheduleRef(req.namespace, req.scheduleId);
    await this.schedules.delete(req.namespace, req.scheduleId);
    return {};
  }

  @Rpc('schedule', 'Trigger')
  async trigger(req: GetScheduleRequest): Promise<TriggerScheduleResponse> {
    checkScheduleRef(req.namespace, req.scheduleId);
    return { runId: await this.schedules.trigger(req.namespace, req.scheduleId) };
  }
}

@Controller('v1/namespaces/:namespace/schedules')
@Access(Role.CLIENT, InNamespace.path)
export class SchedulesHttpController {
  constructor(private readonly schedules: SchedulesService) {}

  @Post()
  @HttpCode(201)
  async create(
    @Param('namespace') namespace: string,
    @HttpBody(BODY_FIELDS.createSchedule) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const input = fromHttpPayload(body, 'input', this.schedules.payloadLimit);
    checkCreateSchedule(namespace, body);
    return scheduleToHttp(await this.schedules.create(namespace, body, input));
  }

  @Get()
  async list(@Param('namespace') namespace: string, @HttpQuery(QUERY_FIELDS.listSchedules) query: Raw) {
    checkListSchedules(namespace, query);
    const page = await this.schedules.list(namespace, query);
    return { schedules: page.items.map(scheduleToHttp), nextPageToken: page.nextPageToken };
  }

  @Get(':scheduleId')
  async get(
    @Param('namespace') namespace: string,
    @Param('scheduleId') scheduleId: string,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    checkScheduleRef(namespace, scheduleId);
    return scheduleToHttp(await this.schedules.get(namespace, scheduleId));
  }

  @Patch(':scheduleId')
  async update(
    @Param('namespace') namespace: string,
    @Param('scheduleId') scheduleId: string,
    @HttpBody(BODY_FIELDS.updateSchedule) body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    const input = fromHttpPayload(body, 'input', this.schedules.payloadLimit);
    checkUpdateSchedule(namespace, scheduleId, body);
    return scheduleToHttp(await this.schedules.update(namespace, scheduleId, body, input));
  }

  @Post(':scheduleId/pause')
  @HttpCode(200)
  async pause(
    @Param('namespace') namespace: string,
    @Param('scheduleId') scheduleId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    checkScheduleRef(namespace, scheduleId);
    return scheduleToHttp(await this.schedules.setPaused(namespace, scheduleId, true));
  }

  @Post(':scheduleId/resume')
  @HttpCode(200)
  async resume(
    @Param('namespace') namespace: string,
    @Param('scheduleId') scheduleId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    checkScheduleRef(namespace, scheduleId);
    return scheduleToHttp(await this.schedules.setPaused(namespace, scheduleId, false));
  }

  @Post(':scheduleId/trigger')
  @HttpCode(201)
  async trigger(
    @Param('namespace') namespace: string,
    @Param('scheduleId') scheduleId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    checkScheduleRef(namespace, scheduleId);
    return { runId: await this.schedules.trigger(namespace, scheduleId) };
  }

  @Delete(':scheduleId')
  @HttpCode(204)
  async delete(
    @Param('namespace') namespace: string,
    @Param('scheduleId') scheduleId: string,
    @HttpBody(BODY_FIELDS.none) _body: Raw,
    @HttpQuery(QUERY_FIELDS.none) _query: Raw,
  ) {
    checkScheduleRef(namespace, scheduleId);
    await this.schedules.delete(namespace, scheduleId);
  }
}
