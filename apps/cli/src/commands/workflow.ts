import type { Command } from 'commander';
import { FLOW_CONTROL, LIMITS } from '@baton/contracts';
import type { ListOptions, StartOptions, WorkflowRun } from '@baton/sdk';
import { RunNotCompletedError } from '../errors';
import { ago, toJson } from '../format';
import { followRun } from '../follow';
import { readInput } from '../input';
import type { InputOptions } from '../input';
import type { Session } from '../session';
import { RUN_HEADERS, STEP_HEADERS, notCompletedLine, runDetail, runRow, stepRow } from '../views';
import type { Act } from './act';
import { integer, time, withInput } from './options';

const PRIORITY = FLOW_CONTROL.priority;

interface StartFlags extends InputOptions {
  queue?: string;
  externalId?: string;
  timeout?: string;
  correlationId?: string;
  priority?: number;
}

interface ListFlags {
  status?: string;
  type?: string;
  queue?: string;
  parent?: string;
  externalId?: string;
  correlationId?: string;
  since?: Date;
  until?: Date;
  limit?: number;
  pageToken?: string;
}

/** Reports a run that ended otherwise than COMPLETED, for the commands that waited for it. */
function requireCompleted(session: Session, run: WorkflowRun): void {
  if (run.status === 'COMPLETED') return;
  session.out.warn(notCompletedLine(run));
  throw new RunNotCompletedError(run.status);
}

async function start(session: Session, [type]: string[], command: Command): Promise<void> {
  const flags = command.opts<StartFlags>();
  const input = readInput(flags);
  const options: StartOptions = {
    ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
    ...(flags.externalId !== undefined ? { externalId: flags.externalId } : {}),
    ...(flags.timeout !== undefined ? { timeout: flags.timeout } : {}),
    ...(flags.correlationId !== undefined ? { correlationId: flags.correlationId } : {}),
    ...(flags.priority !== undefined ? { priority: flags.priority } : {}),
  };
  const started = await (await session.connect()).start(type!, input, options);
  session.out.result(
    () => started,
    () =>
      session.out.line(
        started.alreadyExists
          ? `run ${started.id} already holds external id ${started.run.externalId} (${started.run.status})`
          : `started run ${started.id} (${started.run.workflowType} on queue ${started.run.queue})`,
      ),
  );
}

async function list(session: Session, _args: string[], command: Command): Promise<void> {
  const flags = command.opts<ListFlags>();
  const options: ListOptions = {
    // The server checks the status (one place, the same over HTTP): a wrong one is its INVALID_ARGUMENT.
    ...(flags.status !== undefined ? { status: flags.status.toUpperCase() as ListOptions['status'] } : {}),
    ...(flags.type !== undefined ? { workflowType: flags.type } : {}),
    ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
    ...(flags.parent !== undefined ? { parentRunId: flags.parent } : {}),
    ...(flags.externalId !== undefined ? { externalId: flags.externalId } : {}),
    ...(flags.correlationId !== undefined ? { correlationId: flags.correlationId } : {}),
    ...(flags.since !== undefined ? { createdAfter: flags.since } : {}),
    ...(flags.until !== undefined ? { createdBefore: flags.until } : {}),
    ...(flags.limit !== undefined ? { pageSize: flags.limit } : {}),
    ...(flags.pageToken !== undefined ? { pageToken: flags.pageToken } : {}),
  };
  const page = await (await session.connect()).list(options);
  session.out.result(
    () => page,
    () => {
      const now = Date.now();
      session.out.table(
        RUN_HEADERS,
        page.runs.map((run) => runRow(run, now)),
        'no runs',
      );
      if (page.nextPageToken) session.out.line(`more: --page-token ${page.nextPageToken}`);
    },
  );
}

async function describe(session: Session, [runId]: string[], command: Command): Promise<void> {
  const client = await session.connect();
  if (command.opts<{ follow?: boolean }>().follow) {
    const run = await followRun(client, runId!, session.out);
    if (!session.out.json) session.out.line(runDetail(run));
    requireCompleted(session, run);
    return;
  }
  const run = await client.get(runId!);
  const steps = await client.steps(runId!);
  session.out.result(
    () => ({ run, steps }),
    () => {
      const now = Date.now();
      session.out.line(runDetail(run, now));
      session.out.line();
      session.out.table(
        STEP_HEADERS,
        steps.map((step) => stepRow(step, now)),
        'no steps',
      );
    },
  );
}

async function steps(session: Session, [runId]: string[], command: Command): Promise<void> {
  const client = await session.connect();
  if (command.opts<{ follow?: boolean }>().follow) {
    const run = await followRun(client, runId!, session.out);
    if (!session.out.json) session.out.line(`run ${run.id} ${run.status}`);
    requireCompleted(session, run);
    return;
  }
  const all = await client.steps(runId!);
  session.out.result(
    () => ({ steps: all }),
    () => {
      const now = Date.now();
      session.out.table(
        STEP_HEADERS,
        all.map((step) => stepRow(step, now)),
        'no steps',
      );
    },
  );
}

async function result(session: Session, [runId]: string[], command: Command): Promise<void> {
  const { timeout } = command.opts<{ timeout?: string }>();
  const run = await (await session.connect()).waitForTerminal(runId!, timeout);
  session.out.result(
    () => ({
      id: run.id,
      status: run.status,
      ...(run.status === 'COMPLETED' ? { output: run.output } : {}),
      error: run.error,
    }),
    () => run.status === 'COMPLETED' && session.out.line(toJson(run.output)),
  );
  requireCompleted(session, run);
}

async function cancel(session: Session, [runId]: string[]): Promise<void> {
  const res = await (await session.connect()).cancel(runId!);
  session.out.result(
    () => res,
    () => session.out.line(`${res.alreadyCancelled ? 'already cancelled' : 'cancelled'}: run ${runId}`),
  );
}

async function signal(session: Session, [runId, name]: string[], command: Command): Promise<void> {
  const payload = readInput(command.opts<InputOptions>());
  const sent = await (await session.connect()).signal(runId!, name!, payload);
  session.out.result(
    () => sent,
    () => session.out.line(`sent signal ${name} to run ${sent.runId}`),
  );
}

async function terminate(session: Session, [runId]: string[], command: Command): Promise<void> {
  const res = await (await session.connect()).terminate(runId!, command.opts<{ reason: string }>().reason);
  session.out.result(
    () => res,
    () => session.out.line(`${res.alreadyTerminated ? 'already terminated' : 'terminated'}: run ${runId}`),
  );
}

async function retry(session: Session, [runId]: string[], command: Command): Promise<void> {
  const { reason } = command.opts<{ reason?: string }>();
  const run = await (await session.connect()).retry(runId!, reason !== undefined ? { reason } : {});
  session.out.result(
    () => run,
    () => session.out.line(`retrying run ${run.id}: ${run.status}`),
  );
}

async function reset(session: Session, [runId]: string[], command: Command): Promise<void> {
  const { step, reason } = command.opts<{ step: string; reason?: string }>();
  const run = await (await session.connect()).reset(runId!, { stepId: step, ...(reason ? { reason } : {}) });
  session.out.result(
    () => run,
    () => session.out.line(`reset run ${run.id} to before step ${step}: ${run.status}`),
  );
}

async function history(session: Session, [runId]: string[]): Promise<void> {
  const events = await (await session.connect()).history(runId!);
  session.out.result(
    () => ({ events }),
    () => {
      const now = Date.now();
      session.out.table(
        ['AT', 'ACTION', 'ACTOR', 'REASON', 'DETAIL'],
        events.map((e) => [
          ago(e.at, now),
          e.action,
          e.actor,
          e.reason,
          Object.entries(e.detail)
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
        ]),
        'no operator actions',
      );
    },
  );
}

/** `baton workflow ...`: start, inspect, wait for, signal and act on runs. */
export function registerWorkflow(program: Command, act: Act): void {
  const workflow = program.command('workflow').alias('wf').description('start, inspect and act on workflow runs');

  withInput(workflow.command('start').argument('<type>', 'workflow type'), 'the run input')
    .description('start a run (prints its id)')
    .option('-q, --queue <queue>', 'task queue (default: default)')
    .option('--external-id <id>', 'idempotency key: while a run holds it, starting again returns that run')
    .option('--timeout <duration>', "deadline for the whole run, e.g. '1h'")
    .option('--correlation-id <id>', 'your id for the run, shown in logs and traces')
    .option(
      '--priority <n>',
      `claimed before runs of lower priority: ${PRIORITY.min} to ${PRIORITY.max}`,
      integer(PRIORITY.min, PRIORITY.max),
    )
    .action(act(start));

  workflow
    .command('list')
    .alias('ls')
    .description('list runs, newest first')
    .option('-s, --status <status>', 'PENDING, RUNNING, SLEEPING, COMPLETED, FAILED, CANCELLED or TERMINATED')
    .option('-t, --type <type>', 'only this workflow type')
    .option('-q, --queue <queue>', 'only this task queue')
    .option('--parent <runId>', 'only the children of this run')
    .option('--external-id <id>', 'only the run started with this external id')
    .option('--correlation-id <id>', 'only runs started with this correlation id')
    .option('--since <time>', 'only runs created at or after this ISO 8601 time', time)
    .option('--until <time>', 'only runs created before this ISO 8601 time', time)
    .option(
      '--limit <n>',
      `runs per page (default ${LIMITS.runsPage.default}, at most ${LIMITS.runsPage.max})`,
      integer(1, LIMITS.runsPage.max),
    )
    .option('--page-token <token>', 'the next page, as a previous list printed it')
    .action(act(list));

  workflow
    .command('describe')
    .argument('<runId>')
    .description("a run's status, input, output, error and steps")
    .option('-f, --follow', 'stream its steps as they complete until the run finishes')
    .action(act(describe));

  workflow
    .command('steps')
    .argument('<runId>')
    .description("a run's steps in execution order")
    .option('-f, --follow', 'stream them as they complete until the run finishes')
    .action(act(steps));

  workflow
    .command('result')
    .argument('<runId>')
    .description('wait for the run to finish and print its output (exit 1 unless it COMPLETED)')
    .option('--timeout <duration>', "give up after this long, e.g. '30s' (default: wait)")
    .action(act(result));

  workflow.command('cancel').argument('<runId>').description('cancel a run').action(act(cancel));

  withInput(workflow.command('signal').argument('<runId>').argument('<name>', 'signal name'), 'the signal payload')
    .description('send a signal to a run')
    .action(act(signal));

  workflow
    .command('terminate')
    .argument('<runId>')
    .description('stop a run at once, with no cleanup (an admin key)')
    .requiredOption('--reason <text>', 'why, for the run history')
    .action(act(terminate));

  workflow
    .command('retry')
    .argument('<runId>')
    .description('set a FAILED run going again from where it failed (an admin key)')
    .option('--reason <text>', 'why, for the run history')
    .action(act(retry));

  workflow
    .command('reset')
    .argument('<runId>')
    .description('send a run back to before a step: it and every later step run again (an admin key)')
    .requiredOption('--step <stepId>', 'the first step to run again')
    .option('--reason <text>', 'why, for the run history')
    .action(act(reset));

  workflow
    .command('history')
    .argument('<runId>')
    .description('what was done to a run through the API (cancel, terminate, retry, reset)')
    .action(act(history));
}
