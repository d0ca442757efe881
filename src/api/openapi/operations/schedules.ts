import { SCOPES } from '../../../auth/jwt.js';
import { scheduleCreateSchema, type ScheduleJson } from '../../../domain/scheduling/recurring.js';
import { pageQuery } from '../../routes/schedules.js';
import { CREATED_AT, EXAMPLE_SCHEDULE_ID } from '../examples.js';
import type { Operation } from '../operation.js';
import { scheduleIdParam } from '../path-params.js';
import * as res from '../responses.js';

const send = { kind: 'token', scopes: [SCOPES.send] } as const;

const body = {
  name: '每日备份提醒',
  cron: '0 9 * * 1-5',
  timezone: 'Asia/Shanghai',
  notification: { title: '备份提醒', content: '请检查昨晚的备份', role: 'store_manager' },
};

const schedule: ScheduleJson = {
  id: EXAMPLE_SCHEDULE_ID,
  name: body.name,
  cron: body.cron,
  timezone: body.timezone,
  notification: body.notification,
  is_active: true,
  run_count: 0,
  last_run_at: null,
  next_run_at: '2026-11-23T01:00:00.000Z',
  created_at: CREATED_AT,
};

export const scheduleOperations: Operation[] = [
  {
    method: 'post',
    path: '/api/v1/schedules',
    operationId: 'createSchedule',
    summary: 'Create a recurring send',
    description:
      'A cron expression (5 fields, or 6 with seconds) in an IANA time zone, and what each occurrence sends: a notification as POST /notifications takes it, ' +
      'or a template send as POST /notifications/template takes it (rendered at each occurrence). The schedule decides the time: ' +
      'schedule_at, schedule_local, timezone and idempotency_key are refused inside `notification`.',
    tag: 'Schedules',
    access: send,
    body: {
      name: 'ScheduleCreate',
      schema: scheduleCreateSchema,
      examples: {
        weekdays: { summary: 'Weekdays at 09:00 Shanghai time, to a role', value: body },
        template: {
          summary: 'A template every day',
          value: { cron: '0 8 * * *', notification: { template_name: 'backup_completed', template_vars: { size: '2 GB' }, broadcast: true } },
        },
      },
    },
    responses: { 201: { description: 'Created.', schema: res.schedule, examples: { created: { summary: 'Created', value: schedule } } } },
    problems: [403],
  },
  {
    method: 'get',
    path: '/api/v1/schedules',
    operationId: 'listSchedules',
    summary: "The caller's recurring sends",
    tag: 'Schedules',
    access: send,
    query: { schema: pageQuery },
    responses: {
      200: { description: 'The schedules.', schema: res.scheduleList, examples: { one: { summary: 'One schedule', value: { schedules: [schedule], count: 1 } } } },
    },
    problems: [403],
  },
  {
    method: 'get',
    path: '/api/v1/schedules/{id}',
    operationId: 'getSchedule',
    summary: 'A recurring send',
    tag: 'Schedules',
    access: send,
    pathParams: { id: scheduleIdParam },
    responses: { 200: { description: 'The schedule.', schema: res.schedule, examples: { schedule: { summary: 'A schedule', value: schedule } } } },
    problems: [403, 404],
  },
  {
    method: 'delete',
    path: '/api/v1/schedules/{id}',
    operationId: 'deleteSchedule',
    summary: 'Stop a recurring send',
    tag: 'Schedules',
    access: send,
    pathParams: { id: scheduleIdParam },
    responses: {
      200: {
        description: 'Deleted: no further occurrence fires.',
        schema: res.scheduleDeleted,
        examples: { deleted: { summary: 'Deleted', value: { success: true, message: '定时任务已删除', id: EXAMPLE_SCHEDULE_ID } } },
      },
    },
    problems: [403, 404],
  },
];
