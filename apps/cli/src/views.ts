import type { StepRecord, WorkflowRun } from '@baton/sdk';
import { ago, elapsed, fields, preview, toJson, when } from './format';
import type { Cell } from './format';

/** The statuses a run never leaves. */
export const TERMINAL: ReadonlyArray<WorkflowRun['status']> = ['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED'];

export const isTerminal = (run: WorkflowRun) => TERMINAL.includes(run.status);

export const RUN_HEADERS = ['RUN ID', 'TYPE', 'QUEUE', 'STATUS', 'ATTEMPT', 'CREATED', 'DURATION'];

export function runRow(run: WorkflowRun, now = Date.now()): Cell[] {
  return [
    run.id,
    run.workflowType,
    run.queue,
    run.status,
    run.attempt,
    ago(run.createdAt, now),
    run.startedAt ? elapsed(run.startedAt, run.finishedAt, now) : '-',
  ];
}

/** Indented lines under a label: a payload or a stack. */
function block(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/** A run's page: its facts, then input, output and error in full. */
export function runDetail(run: WorkflowRun, now = Date.now()): string {
  const lines = [
    fields([
      ['Run', run.id],
      ['Type', run.workflowType],
      ['Namespace', run.namespace],
      ['Queue', run.queue],
      ['Status', run.status],
      ['Attempt', run.attempt],
      ['External ID', run.externalId],
      ['Correlation ID', run.correlationId],
      ['Parent', run.parentRunId ? `${run.parentRunId} (step ${run.parentStepId})` : null],
      ['Schedule', run.scheduleId],
      ['Priority', run.priority || null],
      ['Concurrency', run.concurrency ? `${run.concurrency.key} (limit ${run.concurrency.limit})` : null],
      ['Worker', run.lockedBy],
      ['Created', when(run.createdAt, now)],
      ['Started', when(run.startedAt, now)],
      ['Finished', when(run.finishedAt, now)],
      ['Duration', run.startedAt ? elapsed(run.startedAt, run.finishedAt, now) : null],
      ['Wakes', run.status === 'SLEEPING' ? when(run.wakeUpAt, now) : null],
      ['Deadline', when(run.deadlineAt, now)],
    ]),
  ];
  lines.push('Input:', block(toJson(run.input)));
  if (run.status === 'COMPLETED') lines.push('Output:', block(toJson(run.output)));
  if (run.error) {
    lines.push('Error:', block(`${run.error.type ? `${run.error.type}: ` : ''}${run.error.message}`));
    if (run.error.stack) lines.push(block(run.error.stack));
  }
  return lines.join('\n');
}

export const STEP_HEADERS = ['SEQ', 'STEP', 'KIND', 'STATUS', 'ATTEMPT', 'STARTED', 'DURATION', 'RESULT'];

/** What a step came to, on one line. */
export function stepResult(step: StepRecord, now = Date.now()): string {
  if (step.error) {
    const retry = step.retryAt && !step.final ? ` (retry ${ago(step.retryAt, now)})` : '';
    return `${step.error.type ? `${step.error.type}: ` : ''}${step.error.message}${retry}`;
  }
  if (step.kind === 'CHILD' && step.childRunId && step.status === 'RUNNING') return `child ${step.childRunId}`;
  if (step.status === 'RUNNING') return step.wakeUpAt ? `wakes ${ago(step.wakeUpAt, now)}` : 'running';
  return preview(step.output);
}

export function stepRow(step: StepRecord, now = Date.now()): Cell[] {
  return [
    step.seq,
    step.stepId,
    step.kind,
    step.status,
    step.attempt,
    ago(step.startedAt, now),
    elapsed(step.startedAt, step.finishedAt, now),
    stepResult(step, now),
  ];
}

/** The last word on a run that did not complete, for stderr. */
export function notCompletedLine(run: WorkflowRun): string {
  const error = run.error ? `: ${run.error.type ? `${run.error.type}: ` : ''}${run.error.message}` : '';
  return `error: workflow run ${run.id} ${run.status}${error}`;
}
