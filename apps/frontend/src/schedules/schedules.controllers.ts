import { Controller } from '@nestjs/common';
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
import { HttpInput, HttpOperation } from '../http-api';
import type { HttpRequestInput } from '../http-api';
import * as ops from '../http-api/operations/schedules';
import { fromGrpcPayload, fromHttpPayload, toHttpPayload } from '../edge/payloads';
import { Rpc } from '../edge/rpc';
import { checkCreateSchedule, checkListSchedules, checkScheduleRef, checkUpdateSchedule } from '../edge/schedules';
import { SchedulesService } from './schedules.service';
import { Access } from '@baton/runtime';
import { InNamespace } from '../auth/namespaces-of';

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

@Controller()
@Access(Role.CLIENT, InNamespace.path)
export class SchedulesHttpController {
  constructor(private readonly schedules: SchedulesService) {}

  @HttpOperation(ops.createSchedule)
  async create(@HttpInput() { params, body }: HttpRequestInput) {
    const input = fromHttpPayload(body, 'input', this.schedules.payloadLimit);
    checkCreateSchedule(params.namespace, body);
    return scheduleToHttp(await this.schedules.create(params.namespace, body, input));
  }

  @HttpOperation(ops.listSchedules)
  async list(@HttpInput() { params, query }: HttpRequestInput) {
    checkListSchedules(params.namespace, query);
    const page = await this.schedules.list(params.namespace, query);
    return { schedules: page.items.map(scheduleToHttp), nextPageToken: page.nextPageToken };
  }

  @HttpOperation(ops.getSchedule)
  async get(@HttpInput() { params }: HttpRequestInput) {
    checkScheduleRef(params.namespace, params.scheduleId);
    return scheduleToHttp(await this.schedules.get(params.namespace, params.scheduleId));
  }

  @HttpOperation(ops.updateSchedule)
  async update(@HttpInput() { params, body }: HttpRequestInput) {
    const input = fromHttpPayload(body, 'input', this.schedules.payloadLimit);
    checkUpdateSchedule(params.namespace, params.scheduleId, body);
    return scheduleToHttp(await this.schedules.update(params.namespace, params.scheduleId, body, input));
  }

  @HttpOperation(ops.pauseSchedule)
  async pause(@HttpInput() { params }: HttpRequestInput) {
    checkScheduleRef(params.namespace, params.scheduleId);
    return scheduleToHttp(await this.schedules.setPaused(params.namespace, params.scheduleId, true));
  }

  @HttpOperation(ops.resumeSchedule)
  async resume(@HttpInput() { params }: HttpRequestInput) {
    checkScheduleRef(params.namespace, params.scheduleId);
    return scheduleToHttp(await this.schedules.setPaused(params.namespace, params.scheduleId, false));
  }

  @HttpOperation(ops.triggerSchedule)
  async trigger(@HttpInput() { params }: HttpRequestInput) {
    checkScheduleRef(params.namespace, params.scheduleId);
    return { runId: await this.schedules.trigger(params.namespace, params.scheduleId) };
  }

  @HttpOperation(ops.deleteSchedule)
  async delete(@HttpInput() { params }: HttpRequestInput) {
    checkScheduleRef(params.namespace, params.scheduleId);
    await this.schedules.delete(params.namespace, params.scheduleId);
  }
}
