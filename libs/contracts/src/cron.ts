import { CronExpressionParser } from 'cron-parser';
import { BatonError } from './errors';

/**
 * Cron schedules: 5 fields, or 6 with seconds; UTC unless an IANA timezone is
 * named. Validates once at the edge so a stored schedule always parses.
 */
export function checkCron(cron: unknown, timezone: string, field = 'cron'): string {
  if (typeof cron !== 'string' || cron.trim() === '') throw BatonError.invalid(field, `${field} is required`);
  const fields = cron.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw BatonError.invalid(field, `${field} must have 5 fields (or 6 with seconds); got ${fields}`);
  }
  try {
    CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date() }).next();
  } catch (err) {
    throw BatonError.invalid(field, `${field} "${cron}" is not a valid cron expression: ${(err as Error).message}`);
  }
  return cron.trim();
}

export function checkTimezone(timezone: unknown, field = 'timezone'): string {
  if (timezone === undefined || timezone === null || timezone === '') return 'UTC';
  if (typeof timezone !== 'string') throw BatonError.invalid(field, `${field} must be an IANA timezone name`);
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch {
    throw BatonError.invalid(field, `${field} "${timezone}" is not an IANA timezone name`);
  }
  return timezone;
}

/** The first fire time strictly after `after`. */
export function nextFireTime(cron: string, timezone: string, after: Date): Date {
  return CronExpressionParser.parse(cron, { tz: timezone, currentDate: after }).next().toDate();
}

/**
 * The fire times in [from, until], at most the latest `max` (the catch-up
 * cap), found by walking backwards from `until` so the work is bounded by
 * `max` however long the schedule was missed; and the first fire time after
 * `until`.
 */
export function dueFireTimes(
  cron: string,
  timezone: string,
  from: Date,
  until: Date,
  max: number,
): { fireTimes: Date[]; next: Date } {
  const fireTimes: Date[] = [];
  const backwards = CronExpressionParser.parse(cron, { tz: timezone, currentDate: new Date(until.getTime() + 1) });
  while (fireTimes.length < max) {
    const t = backwards.prev().toDate();
    if (t.getTime() < from.getTime()) break;
    fireTimes.unshift(t);
  }
  return { fireTimes, next: nextFireTime(cron, timezone, until) };
}
