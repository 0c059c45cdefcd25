import type { Command } from 'commander';
import { LIMITS } from '@baton/contracts';
import type { Schedule, ScheduleOptions } from '@baton/sdk';
import { ago, fields, when } from '../format';
import { readInput } from '../input';
import type { InputOptions } from '../input';
import type { Session } from '../session';
import type { Act } from './act';
import { integer, withInput } from './options';

interface CreateFlags extends InputOptions {
  type: string;
  cron: string;
  queue?: string;
  timezone?: string;
  maxCatchup?: number;
  paused?: boolean;
}

function scheduleDetail(s: Schedule): string {
  return fields([
    ['Schedule', s.scheduleId],
    ['Type', s.workflowType],
    ['Queue', s.queue],
    ['Cron', `${s.cron} (${s.timezone || 'UTC'})`],
    ['State', s.paused ? 'paused' : 'active'],
    ['Next fire', s.paused ? null : when(s.nextFireAt)],
    ['Last fired', when(s.lastFiredAt)],
  ]);
}

async function create(session: Session, [scheduleId]: string[], command: Command): Promise<void> {
  const flags = command.opts<CreateFlags>();
  const input = readInput(flags);
  const options: ScheduleOptions = {
    scheduleId: scheduleId!,
    workflowType: flags.type,
    cron: flags.cron,
    ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
    ...(flags.timezone !== undefined ? { timezone: flags.timezone } : {}),
    ...(input !== undefined ? { input } : {}),
    ...(flags.maxCatchup !== undefined ? { maxCatchup: flags.maxCatchup } : {}),
    ...(flags.paused ? { paused: true } : {}),
  };
  const schedule = await (await session.connect()).schedules.create(options);
  session.out.result(
    () => schedule,
    () => session.out.line(scheduleDetail(schedule)),
  );
}

async function list(session: Session, _args: string[], command: Command): Promise<void> {
  const { type } = command.opts<{ type?: string }>();
  const client = await session.connect();
  const schedules: Schedule[] = [];
  let pageToken: string | null = null;
  do {
    const page: { schedules: Schedule[]; nextPageToken: string | null } = await client.schedules.list({
      ...(type !== undefined ? { workflowType: type } : {}),
      ...(pageToken ? { pageToken } : {}),
    });
    schedules.push(...page.schedules);
    pageToken = page.nextPageToken;
  } while (pageToken);
  session.out.result(
    () => ({ schedules }),
    () => {
      const now = Date.now();
      session.out.table(
        ['SCHEDULE', 'TYPE', 'QUEUE', 'CRON', 'TIMEZONE', 'STATE', 'NEXT FIRE', 'LAST FIRED'],
        schedules.map((s) => [
          s.scheduleId,
          s.workflowType,
          s.queue,
          s.cron,
          s.timezone || 'UTC',
          s.paused ? 'paused' : 'active',
          s.paused ? '-' : ago(s.nextFireAt, now),
          ago(s.lastFiredAt, now),
        ]),
        'no schedules',
      );
    },
  );
}

/** pause / resume: the schedule as it is afterwards. */
function setPaused(paused: boolean) {
  return async (session: Session, [scheduleId]: string[]): Promise<void> => {
    const schedules = (await session.connect()).schedules;
    const schedule = await (paused ? schedules.pause(scheduleId!) : schedules.resume(scheduleId!));
    session.out.result(
      () => schedule,
      () =>
        session.out.line(
          paused
            ? `paused schedule ${schedule.scheduleId}`
            : `resumed schedule ${schedule.scheduleId}: next fire ${when(schedule.nextFireAt)}`,
        ),
    );
  };
}

async function trigger(session: Session, [scheduleId]: string[]): Promise<void> {
  const { runId } = await (await session.connect()).schedules.trigger(scheduleId!);
  session.out.result(
    () => ({ scheduleId, runId }),
    () => session.out.line(`triggered schedule ${scheduleId}: started run ${runId}`),
  );
}

async function remove(session: Session, [scheduleId]: string[]): Promise<void> {
  await (await session.connect()).schedules.delete(scheduleId!);
  session.out.result(
    () => ({ scheduleId, deleted: true }),
    () => session.out.line(`deleted schedule ${scheduleId}`),
  );
}

/** `baton schedule ...`: cron schedules that start runs. */
export function registerSchedule(program: Command, act: Act): void {
  const schedule = program.command('schedule').description('cron schedules that start runs');

  withInput(schedule.command('create').argument('<scheduleId>', 'a name for the schedule'), 'the input of each run')
    .description('create a schedule')
    .requiredOption('-t, --type <type>', 'workflow type of the runs it starts')
    .requiredOption('--cron <expression>', "5 fields, or 6 with seconds: '*/5 * * * *'")
    .option('-q, --queue <queue>', 'task queue of its runs (default: default)')
    .option('--timezone <iana>', "the cron's timezone, e.g. Europe/Paris (default: UTC)")
    .option(
      '--max-catchup <n>',
      `most runs fired to catch up missed times (default ${LIMITS.maxCatchup.default})`,
      integer(LIMITS.maxCatchup.min, LIMITS.maxCatchup.max),
    )
    .option('--paused', 'create it paused')
    .action(act(create));

  schedule
    .command('list')
    .alias('ls')
    .description('list schedules')
    .option('-t, --type <type>', 'only those of this workflow type')
    .action(act(list));

  schedule
    .command('pause')
    .argument('<scheduleId>')
    .description('stop firing')
    .action(act(setPaused(true)));

  schedule
    .command('resume')
    .argument('<scheduleId>')
    .description('fire again, from the next fire time after now (no catch-up of the pause)')
    .action(act(setPaused(false)));

  schedule
    .command('trigger')
    .argument('<scheduleId>')
    .description('start one run now, as a fire of the schedule would (paused or not)')
    .action(act(trigger));

  schedule.command('delete').argument('<scheduleId>').description('delete a schedule').action(act(remove));
}
