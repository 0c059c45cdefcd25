import { Link } from 'react-router';
import { isTerminal } from '../api';
import type { Run, Step } from '../api';
import { formatDuration, formatPayload, formatTime, time } from '../format';
import { runPath } from '../paths';
import { StatusBadge } from './StatusBadge';

const KIND_LABEL: Record<Step['kind'], string> = {
  FUNCTION: 'step',
  SLEEP: 'sleep',
  SIGNAL: 'signal',
  CHILD: 'child',
};

/** The span the bars are drawn over: from the run's start to its end, or to now while it runs. */
function spanOf(run: Run, steps: Step[], now: number): { from: number; to: number } {
  const from = time(run.startedAt) ?? time(run.createdAt) ?? now;
  let to = time(run.finishedAt) ?? now;
  for (const step of steps) to = Math.max(to, time(step.finishedAt) ?? time(step.startedAt) ?? to);
  return { from, to: Math.max(to, from + 1) };
}

interface Span {
  start: number;
  end: number;
  /** The start is inferred, not recorded (see spansOf). */
  inferred: boolean;
}

/**
 * Where each step's bar lies. A function step's start is recorded as its
 * completion less the time its worker measured the body running; a step
 * recorded without that measure (an older worker, or a body under a
 * millisecond) has its start at its end, and its bar then starts where the
 * steps before it (or the run) ended: when its body could begin in a workflow
 * that runs one step after another. Sleeps, signal waits and children have
 * their own start.
 */
function spansOf(ordered: Step[], from: number, until: number): Span[] {
  let previousEnd = from;
  return ordered.map((step) => {
    const recorded = time(step.startedAt) ?? previousEnd;
    const end = time(step.finishedAt) ?? until;
    const inferred = step.kind === 'FUNCTION' && step.status !== 'RUNNING' && end - recorded < 1;
    const start = inferred ? Math.min(previousEnd, end) : recorded;
    previousEnd = Math.max(previousEnd, end);
    return { start, end, inferred };
  });
}

const INFERRED_HINT = 'From the end of the step before it: the step was recorded without its running time.';

function StepDetail({ step, namespace, inferred }: { step: Step; namespace: string; inferred: boolean }) {
  const payload = formatPayload(step.output, step.outputBase64);
  return (
    <div className="step-detail">
      <dl className="facts compact">
        {inferred ? null : (
          <>
            <dt>Started</dt>
            <dd>{formatTime(step.startedAt)}</dd>
          </>
        )}
        <dt>Finished</dt>
        <dd>{formatTime(step.finishedAt)}</dd>
        {step.wakeUpAt ? (
          <>
            <dt>Wakes up</dt>
            <dd>{formatTime(step.wakeUpAt)}</dd>
          </>
        ) : null}
        {step.retryAt ? (
          <>
            <dt>Next attempt</dt>
            <dd>{formatTime(step.retryAt)}</dd>
          </>
        ) : null}
        {step.childRunId ? (
          <>
            <dt>Child run</dt>
            <dd className="mono">
              <Link to={runPath(namespace, step.childRunId)}>{step.childRunId}</Link>
            </dd>
          </>
        ) : null}
      </dl>
      {payload ? (
        <>
          <h4>{step.kind === 'SIGNAL' ? 'Signal payload' : 'Output'}</h4>
          <pre className="json">{payload}</pre>
        </>
      ) : null}
      {step.error ? <ErrorDetail error={step.error} /> : null}
    </div>
  );
}

export function ErrorDetail({ error }: { error: NonNullable<Step['error']> }) {
  return (
    <div className="run-error">
      <p>
        {error.type ? <strong>{error.type}: </strong> : null}
        {error.message}
        {error.nonRetryable ? <span className="muted"> (not retryable)</span> : null}
      </p>
      {error.stack ? <pre className="stack">{error.stack}</pre> : null}
    </div>
  );
}

/**
 * The run's steps in the order they were recorded, each a bar placed by its
 * start and finish on the run's time line, with its duration and attempt;
 * a click opens its output or error (a signal's payload, a child's run).
 */
export function Timeline({ run, steps, now }: { run: Run; steps: Step[]; now: number }) {
  if (steps.length === 0) return <p className="empty">No steps yet.</p>;
  const { from, to } = spanOf(run, steps, now);
  const percent = (at: number) => ((Math.min(Math.max(at, from), to) - from) / (to - from)) * 100;
  const ordered = [...steps].sort((a, b) => a.seq - b.seq);
  // A step still open when the run ended (a sleep cut short by Cancel) ends with the run.
  const spans = spansOf(ordered, from, time(run.finishedAt) ?? now);
  return (
    <ol className="timeline">
      <li className="timeline-scale" aria-hidden="true">
        <span />
        <span className="scale">
          <span>0</span>
          <span>{formatDuration(to - from)}</span>
        </span>
        <span />
      </li>
      {ordered.map((step, i) => {
        const { start, end, inferred } = spans[i]!;
        // A step the run left open when it ended (a sleep cut short by Cancel) will not finish.
        const status = step.status === 'RUNNING' && isTerminal(run.status) ? 'INTERRUPTED' : step.status;
        const left = percent(start);
        const width = Math.max(percent(end) - left, 0.6);
        return (
          <li key={`${step.stepId}:${step.seq}`} className="timeline-row" data-step-id={step.stepId}>
            <details>
              <summary>
                <span className="step-name">
                  <span className={`kind kind-${step.kind.toLowerCase()}`}>{KIND_LABEL[step.kind]}</span>
                  <span className="mono">{step.stepId}</span>
                </span>
                <span className="track">
                  <span
                    className={`bar bar-${status.toLowerCase()}`}
                    style={{ left: `${left}%`, width: `${width}%` }}
                  />
                </span>
                <span className="step-meta">
                  <StatusBadge status={status} />
                  <span className="duration" title={inferred ? INFERRED_HINT : undefined}>
                    {inferred ? '≈ ' : ''}
                    {formatDuration(end - start)}
                  </span>
                  <span className="muted">attempt {step.attempt}</span>
                </span>
              </summary>
              <StepDetail step={step} namespace={run.namespace} inferred={inferred} />
            </details>
          </li>
        );
      })}
    </ol>
  );
}
