import {
  LIMITS,
  checkCron,
  checkInt,
  checkName,
  checkOptionalBoolean,
  checkSchedulesPageToken,
  checkTimezone,
} from '@baton/contracts';
import type { CreateScheduleRequest, ListSchedulesRequest, UpdateScheduleRequest } from '@baton/proto';
import { parseNamespace, parsePageSize } from './requests';
import type { Untrusted } from './requests';

/*
 * Schedule requests checked whole, before SchedulesService looks anything
 * up: a bad field is INVALID_ARGUMENT naming it even when the schedule does
 * not exist, and `paused` is a boolean, not any truthy text.
 */

const given = (v: unknown) => v !== undefined && v !== null && v !== '';

function checkMaxCatchup(value: unknown): void {
  if (value !== undefined && value !== null) {
    checkInt(value, 'maxCatchup', LIMITS.maxCatchup.min, LIMITS.maxCatchup.max);
  }
}

export function checkCreateSchedule(namespace: unknown, raw: Untrusted<CreateScheduleRequest>): void {
  parseNamespace(namespace);
  checkName(raw.scheduleId, 'scheduleId');
  checkName(raw.workflowType, 'workflowType');
  if (raw.queue !== undefined && raw.queue !== '') checkName(raw.queue, 'queue');
  checkCron(raw.cron, checkTimezone(raw.timezone));
  checkMaxCatchup(raw.maxCatchup);
  checkOptionalBoolean(raw.paused, 'paused');
}

export function checkUpdateSchedule(
  namespace: unknown,
  scheduleId: unknown,
  raw: Untrusted<UpdateScheduleRequest>,
): void {
  parseNamespace(namespace);
  checkName(scheduleId, 'scheduleId');
  const timezone = given(raw.timezone) ? checkTimezone(raw.timezone) : 'UTC';
  if (given(raw.cron)) checkCron(raw.cron, timezone);
  if (given(raw.workflowType)) checkName(raw.workflowType, 'workflowType');
  if (given(raw.queue)) checkName(raw.queue, 'queue');
  checkMaxCatchup(raw.maxCatchup);
}

export function checkScheduleRef(namespace: unknown, scheduleId: unknown): void {
  parseNamespace(namespace);
  checkName(scheduleId, 'scheduleId');
}

export function checkListSchedules(namespace: unknown, raw: Untrusted<ListSchedulesRequest>): void {
  parseNamespace(namespace);
  if (given(raw.workflowType)) checkName(raw.workflowType, 'workflowType');
  parsePageSize(raw.pageSize, LIMITS.schedulesPage);
  checkSchedulesPageToken(raw.pageToken);
}
