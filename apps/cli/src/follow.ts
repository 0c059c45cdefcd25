import type { Client, StepRecord, WorkflowRun } from '@baton/sdk';
import { duration, elapsed } from './format';
import type { Output } from './session';
import { isTerminal, stepResult } from './views';

/** Between two looks at a followed run. */
export const FOLLOW_INTERVAL_MS = 500;

const CLEAR_LINE = '\r\x1b[2K';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One settled state of a step: a step retried, or reset and run again, shows once per outcome. */
const outcomeKey = (s: StepRecord) => `${s.seq}|${s.stepId}|${s.status}|${s.attempt}|${s.finishedAt?.getTime() ?? ''}`;

function stepLine(step: StepRecord): string {
  const mark = step.status === 'COMPLETED' ? '✓' : '✗';
  const attempt = step.attempt > 1 ? ` attempt ${step.attempt}` : '';
  return `${mark} ${step.seq} ${step.stepId} ${step.kind} ${step.status}${attempt} ${elapsed(step.startedAt, step.finishedAt)}  ${stepResult(step)}`;
}

function progressLine(run: WorkflowRun, steps: StepRecord[], since: number): string {
  const done = steps.filter((s) => s.status === 'COMPLETED').length;
  // A step shows RUNNING only where the server records its start (a sleep, a child, a retry); most are seen once done.
  const current = steps.find((s) => s.status === 'RUNNING');
  const at = current ? `, at ${current.stepId}` : '';
  return `… ${run.status}: ${done} step${done === 1 ? '' : 's'} completed${at} (${duration(Date.now() - since)})`;
}

/**
 * Shows a run's steps as they settle (completed, or failed an attempt) until
 * the run is terminal, and returns it. The run is read before its steps, so
 * once it reads terminal the steps read after it are all there are.
 * Text: a line per step, and a progress line (redrawn in place on a
 * terminal, printed when the status changes otherwise). --json: one JSON
 * object per line, `{"type":"step",...}` then `{"type":"run",...}`.
 */
export async function followRun(
  client: Client,
  runId: string,
  out: Output,
  intervalMs = FOLLOW_INTERVAL_MS,
): Promise<WorkflowRun> {
  const shown = new Set<string>();
  const since = Date.now();
  let lastStatus = '';
  for (;;) {
    const run = await client.get(runId);
    const steps = await client.steps(runId);
    const settled = steps.filter((s) => s.status !== 'RUNNING' && !shown.has(outcomeKey(s)));
    if (out.interactive && settled.length > 0) out.raw(CLEAR_LINE);
    for (const step of settled) {
      shown.add(outcomeKey(step));
      if (out.json) out.event({ type: 'step', step });
      else out.line(stepLine(step));
    }
    const terminal = isTerminal(run);
    if (out.json) {
      if (terminal) out.event({ type: 'run', run });
    } else if (out.interactive) {
      out.raw(`${CLEAR_LINE}${terminal ? '' : progressLine(run, steps, since)}`);
    } else if (run.status !== lastStatus && !terminal) {
      out.line(progressLine(run, steps, since));
    }
    lastStatus = run.status;
    if (terminal) return run;
    await sleep(intervalMs);
  }
}
