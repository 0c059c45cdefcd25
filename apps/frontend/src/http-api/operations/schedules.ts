import { z } from 'zod';
import { LIMITS } from '@baton/contracts';
import { checkCreateSchedule, checkListSchedules, checkUpdateSchedule } from '../../edge/schedules';
import { ScheduleSchema } from '../components';
import { namespaceParam, nextPageToken, pageSizeQuery, pageTokenDoc, scheduleIdParam } from '../fields';
import { defineOperation } from '../operation';
import { doc, fieldsOf, payloadFields, queryText, rule } from '../rules';

/* Cron schedules: each starts runs of a workflow type at its fire times. */

const SCHEDULES = '/v1/namespaces/{namespace}/schedules';
const SCHEDULE = `${SCHEDULES}/{scheduleId}`;
const TAG = 'schedules';
const scheduleParams = z.strictObject({ namespace: namespaceParam, scheduleId: scheduleIdParam });

const create = fieldsOf((raw) => checkCreateSchedule('default', raw), {
  scheduleId: 's',
  workflowType: 'w',
  cron: '* * * * *',
});
const update = fieldsOf((raw) => checkUpdateSchedule('default', 's', raw));
const cronDoc = z.string().describe('Cron expression: 5 fields, or 6 with seconds first.');
const timezoneDoc = z.string().describe('IANA time zone of the cron expression (default UTC).');
const maxCatchupDoc = doc
  .int(
    LIMITS.maxCatchup.min,
    LIMITS.maxCatchup.max,
    `Most missed fire times started after downtime (default ${LIMITS.maxCatchup.default}).`,
  )
  .nullish();

export const createSchedule = defineOperation({
  id: 'createSchedule',
  method: 'post',
  path: SCHEDULES,
  tag: TAG,
  summary: 'Create a schedule',
  status: 201,
  params: z.strictObject({ namespace: namespaceParam }),
  body: z.strictObject({
    scheduleId: rule(doc.name('Your id for the schedule.'), create('scheduleId')),
    workflowType: rule(doc.name('Workflow type it starts.'), create('workflowType')),
    queue: rule(
      z.string().max(LIMITS.nameBytes).optional().describe('Task queue (default "default").'),
      create('queue'),
    ),
    cron: rule(cronDoc, create('cron')),
    timezone: rule(timezoneDoc.nullish(), create('timezone')),
    ...payloadFields('input', 'Input of each run.'),
    maxCatchup: rule(maxCatchupDoc, create('maxCatchup')),
    paused: rule(z.boolean().nullish().describe('Create it paused.'), create('paused')),
  }),
  example: { scheduleId: 'nightly', workflowType: 'hello', cron: '0 3 * * *', timezone: 'UTC' },
  response: ScheduleSchema,
  responseDescription: 'The schedule.',
  errors: [409, 413],
});

const list = fieldsOf((raw) => checkListSchedules('default', raw));

export const listSchedules = defineOperation({
  id: 'listSchedules',
  method: 'get',
  path: SCHEDULES,
  tag: TAG,
  summary: 'List schedules',
  status: 200,
  params: z.strictObject({ namespace: namespaceParam }),
  query: z.strictObject({
    workflowType: rule(doc.name('Workflow type.').optional(), list('workflowType'), queryText),
    pageSize: pageSizeQuery(LIMITS.schedulesPage, list('pageSize')),
    pageToken: rule(pageTokenDoc, list('pageToken'), queryText),
  }),
  response: z.object({ schedules: z.array(ScheduleSchema), nextPageToken }),
  responseDescription: 'A page of schedules.',
});

export const getSchedule = defineOperation({
  id: 'getSchedule',
  method: 'get',
  path: SCHEDULE,
  tag: TAG,
  summary: 'Get a schedule',
  status: 200,
  params: scheduleParams,
  response: ScheduleSchema,
  responseDescription: 'The schedule.',
  errors: [404],
});

export const updateSchedule = defineOperation({
  id: 'updateSchedule',
  method: 'patch',
  path: SCHEDULE,
  tag: TAG,
  summary: 'Change a schedule',
  description: 'Fields absent, null or empty are left as they are.',
  status: 200,
  params: scheduleParams,
  body: z.strictObject({
    cron: rule(cronDoc.nullish(), update('cron')),
    timezone: rule(timezoneDoc.nullish(), update('timezone')),
    workflowType: rule(z.string().max(LIMITS.nameBytes).nullish().describe('Workflow type.'), update('workflowType')),
    queue: rule(z.string().max(LIMITS.nameBytes).nullish().describe('Task queue.'), update('queue')),
    ...payloadFields('input', 'Input of each run.'),
    maxCatchup: rule(maxCatchupDoc, update('maxCatchup')),
  }),
  response: ScheduleSchema,
  responseDescription: 'The schedule as changed.',
  errors: [404, 413],
});

const scheduleAction = (id: string, action: string, summary: string, description: string) =>
  defineOperation({
    id,
    method: 'post',
    path: `${SCHEDULE}/${action}`,
    tag: TAG,
    summary,
    status: 200,
    params: scheduleParams,
    response: ScheduleSchema,
    responseDescription: description,
    errors: [404],
  });

export const pauseSchedule = scheduleAction('pauseSchedule', 'pause', 'Pause a schedule', 'Paused: it starts nothing.');
export const resumeSchedule = scheduleAction('resumeSchedule', 'resume', 'Resume a schedule', 'Running again.');

export const triggerSchedule = defineOperation({
  id: 'triggerSchedule',
  method: 'post',
  path: `${SCHEDULE}/trigger`,
  tag: TAG,
  summary: 'Start a run of a schedule now',
  status: 201,
  params: scheduleParams,
  response: z.object({ runId: doc.uuid('The run started.') }),
  responseDescription: 'Started.',
  errors: [404],
});

export const deleteSchedule = defineOperation({
  id: 'deleteSchedule',
  method: 'delete',
  path: SCHEDULE,
  tag: TAG,
  summary: 'Delete a schedule',
  status: 204,
  params: scheduleParams,
  responseDescription: 'Deleted.',
  errors: [404],
});

export const SCHEDULE_OPERATIONS = [
  createSchedule,
  listSchedules,
  getSchedule,
  updateSchedule,
  pauseSchedule,
  resumeSchedule,
  triggerSchedule,
  deleteSchedule,
];
