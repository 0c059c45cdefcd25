import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { GrpcMethod } from '@nestjs/microservices';
import type { ScheduleView } from '@baton/contracts';
import { fromGrpcPayload, fromHttpPayload, toGrpcPayload, toHttpPayload } from '../edge/payloads';
import { SchedulesService } from './schedules.service';

type Raw = Record<string, any>;

const ms = (d: Date | null) => (d ? d.getTime() : undefined);
const iso = (d: Date | null) => (d ? d.toISOString() : null);

function scheduleToGrpc(s: ScheduleView) {
  return {
    ...s,
    input: toGrpcPayload(s.input),
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
export class SchedulesGrpcController {
  constructor(private readonly schedules: SchedulesService) {}

  @GrpcMethod('ScheduleService', 'Create')
  async create(req: Raw) {
    const input = fromGrpcPayload(req.input, 'input', this.schedules.payloadLimit);
    return scheduleToGrpc(await this.schedules.create(req.namespace, req, input));
  }

  @GrpcMethod('ScheduleService', 'Get')
  async get(req: Raw) {
    return scheduleToGrpc(await this.schedules.get(req.namespace, req.scheduleId));
  }

  @GrpcMethod('ScheduleService', 'List')
  async list(req: Raw) {
    const page = await this.schedules.list(req.namespace, req);
    return { schedules: page.items.map(scheduleToGrpc), nextPageToken: page.nextPageToken ?? '' };
  }

  @GrpcMethod('ScheduleService', 'Update')
  async update(req: Raw) {
    const input = fromGrpcPayload(req.input, 'input', this.schedules.payloadLimit);
    return scheduleToGrpc(await this.schedules.update(req.namespace, req.scheduleId, req, input));
  }

  @GrpcMethod('ScheduleService', 'Pause')
  async pause(req: Raw) {
    return scheduleToGrpc(await this.schedules.setPaused(req.namespace, req.scheduleId, true));
  }

  @GrpcMethod('ScheduleService', 'Resume')
  async resume(req: Raw) {
    return scheduleToGrpc(await this.schedules.setPaused(req.namespace, req.scheduleId, false));
  }

  @GrpcMethod('ScheduleService', 'Delete')
  async delete(req: Raw) {
    await this.schedules.delete(req.namespace, req.scheduleId);
    return {};
  }
}

@Controller('v1/namespaces/:namespace/schedules')
export class SchedulesHttpController {
  constructor(private readonly schedules: SchedulesService) {}

  @Post()
  @HttpCode(201)
  async create(@Param('namespace') namespace: string, @Body() body: Raw = {}) {
    const input = fromHttpPayload(body ?? {}, 'input', this.schedules.payloadLimit);
    return scheduleToHttp(await this.schedules.create(namespace, body ?? {}, input));
  }

  @Get()
  async list(@Param('namespace') namespace: string, @Query() query: Raw) {
    const page = await this.schedules.list(namespace, query);
    return { schedules: page.items.map(scheduleToHttp), nextPageToken: page.nextPageToken };
  }

  @Get(':scheduleId')
  async get(@Param('namespace') namespace: string, @Param('scheduleId') scheduleId: string) {
    return scheduleToHttp(await this.schedules.get(namespace, scheduleId));
  }

  @Patch(':scheduleId')
  async update(@Param('namespace') namespace: string, @Param('scheduleId') scheduleId: string, @Body() body: Raw = {}) {
    const input = fromHttpPayload(body ?? {}, 'input', this.schedules.payloadLimit);
    return scheduleToHttp(await this.schedules.update(namespace, scheduleId, body ?? {}, input));
  }

  @Post(':scheduleId/pause')
  @HttpCode(200)
  async pause(@Param('namespace') namespace: string, @Param('scheduleId') scheduleId: string) {
    return scheduleToHttp(await this.schedules.setPaused(namespace, scheduleId, true));
  }

  @Post(':scheduleId/resume')
  @HttpCode(200)
  async resume(@Param('namespace') namespace: string, @Param('scheduleId') scheduleId: string) {
    return scheduleToHttp(await this.schedules.setPaused(namespace, scheduleId, false));
  }

  @Delete(':scheduleId')
  @HttpCode(204)
  async delete(@Param('namespace') namespace: string, @Param('scheduleId') scheduleId: string) {
    await this.schedules.delete(namespace, scheduleId);
  }
}
