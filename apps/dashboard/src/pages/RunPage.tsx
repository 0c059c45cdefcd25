import { useState } from 'react';
import type { ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, isTerminal } from '../api';
import type { HistoryEvent, Run } from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorBox } from '../components/ErrorBox';
import { useNamespace } from '../components/Layout';
import { StatusBadge } from '../components/StatusBadge';
import { ErrorDetail, Timeline } from '../components/Timeline';
import { formatDuration, formatPayload, formatTime, time, useNow } from '../format';
import { runPath } from '../paths';

/** While a run is live the page follows it every second; a finished run changes only by an operator's hand. */
const refetchFor = (run: Run | undefined) => (run && isTerminal(run.status) ? 5000 : 1000);

type Action = 'cancel' | 'retry' | 'terminate';

function RunActions({ run }: { run: Run }) {
  const queryClient = useQueryClient();
  const [action, setAction] = useState<Action | null>(null);
  const close = () => setAction(null);
  // The page shows the run's new state (and its history entry) at once, not at the next poll.
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['run', run.namespace, run.id] });
  const live = !isTerminal(run.status);
  return (
    <div className="actions">
      {live ? (
        <button type="button" onClick={() => setAction('cancel')}>
          Cancel
        </button>
      ) : null}
      {run.status === 'FAILED' ? (
        <button type="button" onClick={() => setAction('retry')}>
          Retry
        </button>
      ) : null}
      {live ? (
        <button type="button" className="danger" onClick={() => setAction('terminate')}>
          Terminate
        </button>
      ) : null}
      {action === 'cancel' ? (
        <ConfirmDialog
          title="Cancel this run?"
          confirmLabel="Cancel run"
          danger
          onClose={close}
          onConfirm={() => api.cancel(run.namespace, run.id).then(refresh)}
        >
          The workflow is asked to stop: its current step is told, and it ends as CANCELLED.
        </ConfirmDialog>
      ) : null}
      {action === 'retry' ? (
        <ConfirmDialog
          title="Retry this run?"
          confirmLabel="Retry run"
          reason="optional"
          onClose={close}
          onConfirm={(reason) => api.retry(run.namespace, run.id, reason || undefined).then(refresh)}
        >
          The run starts over from its recorded steps: completed steps are not run again.
        </ConfirmDialog>
      ) : null}
      {action === 'terminate' ? (
        <ConfirmDialog
          title="Terminate this run?"
          confirmLabel="Terminate run"
          reason="required"
          danger
          onClose={close}
          onConfirm={(reason) => api.terminate(run.namespace, run.id, reason).then(refresh)}
        >
          The run is stopped at once, without its workflow getting a chance to clean up.
        </ConfirmDialog>
      ) : null}
    </div>
  );
}

function RunFacts({ run, now }: { run: Run; now: number }) {
  const started = time(run.startedAt);
  const facts: [string, ReactNode][] = [
    ['Run id', <span className="mono">{run.id}</span>],
    ['Namespace', run.namespace],
    ['Queue', run.queue],
    ['External id', run.externalId ?? '—'],
    ['Correlation id', run.correlationId ?? '—'],
    ['Attempt', run.attempt],
    ['Created', formatTime(run.createdAt)],
    ['Started', formatTime(run.startedAt)],
    ['Finished', formatTime(run.finishedAt)],
    ['Duration', started === null ? '—' : formatDuration((time(run.finishedAt) ?? now) - started)],
  ];
  if (run.wakeUpAt && !isTerminal(run.status)) facts.push(['Wakes up', formatTime(run.wakeUpAt)]);
  if (run.deadlineAt) facts.push(['Deadline', formatTime(run.deadlineAt)]);
  if (run.scheduleId) facts.push(['Schedule', run.scheduleId]);
  if (run.parentRunId) {
    facts.push(['Parent run', <Link to={runPath(run.namespace, run.parentRunId)}>{run.parentRunId}</Link>]);
  }
  if (run.traceId) facts.push(['Trace id', <span className="mono">{run.traceId}</span>]);
  return (
    <dl className="facts card">
      {facts.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function Payloads({ run }: { run: Run }) {
  const input = formatPayload(run.input, run.inputBase64);
  const output = formatPayload(run.output, run.outputBase64);
  return (
    <div className="payloads">
      <div className="card">
        <h3>Input</h3>
        {input ? <pre className="json">{input}</pre> : <p className="muted">none</p>}
      </div>
      <div className="card">
        <h3>{run.error ? 'Error' : 'Output'}</h3>
        {run.error ? (
          <ErrorDetail error={run.error} />
        ) : output ? (
          <pre className="json">{output}</pre>
        ) : (
          <p className="muted">{isTerminal(run.status) ? 'none' : 'not yet'}</p>
        )}
      </div>
    </div>
  );
}

function Children({ run }: { run: Run }) {
  const children = useQuery({
    queryKey: ['runs', run.namespace, 'children', run.id],
    queryFn: () => api.runs(run.namespace, { parentRunId: run.id }, undefined, 100),
    refetchInterval: refetchFor(run),
  });
  if (!children.data?.items.length) return null;
  return (
    <section className="card">
      <h2>Child runs</h2>
      <table className="table">
        <tbody>
          {children.data.items.map((child) => (
            <tr key={child.id}>
              <td className="mono">
                <Link to={runPath(child.namespace, child.id)}>{child.id}</Link>
              </td>
              <td>{child.workflowType}</td>
              <td>
                <StatusBadge status={child.status} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function History({ events }: { events: HistoryEvent[] }) {
  if (events.length === 0) return null;
  return (
    <section className="card">
      <h2>Operator history</h2>
      <table className="table history">
        <thead>
          <tr>
            <th>When</th>
            <th>Action</th>
            <th>By</th>
            <th>Reason</th>
            <th>Detail</th>
          </tr>
        </thead>
        <tbody>
          {events.map((event) => (
            <tr key={event.id}>
              <td>{formatTime(event.at)}</td>
              <td>{event.action}</td>
              <td className="mono">{event.actor ?? '—'}</td>
              <td>{event.reason ?? ''}</td>
              <td className="mono">
                {Object.entries(event.detail)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function RunPage() {
  const namespace = useNamespace();
  const runId = useParams().runId ?? '';
  const now = useNow();
  const run = useQuery({
    queryKey: ['run', namespace, runId],
    queryFn: () => api.run(namespace, runId),
    refetchInterval: (query) => refetchFor(query.state.data),
  });
  const interval = refetchFor(run.data);
  const steps = useQuery({
    queryKey: ['run', namespace, runId, 'steps'],
    queryFn: () => api.steps(namespace, runId),
    refetchInterval: interval,
    enabled: run.isSuccess,
  });
  const history = useQuery({
    queryKey: ['run', namespace, runId, 'history'],
    queryFn: () => api.history(namespace, runId),
    refetchInterval: interval,
    enabled: run.isSuccess,
  });

  if (!run.data) {
    return (
      <section>
        <h1>Run</h1>
        <p className="mono muted">{runId}</p>
        {run.error ? <ErrorBox error={run.error} /> : <p className="empty">Loading…</p>}
      </section>
    );
  }
  const data = run.data;
  return (
    <section>
      <div className="page-head">
        <h1>
          {data.workflowType} <StatusBadge status={data.status} />
        </h1>
        <RunActions run={data} />
      </div>
      {/* A failed refresh is shown over the last good data, which stays. */}
      <ErrorBox error={run.error ?? steps.error ?? history.error} />
      <RunFacts run={data} now={now} />
      <Payloads run={data} />
      <section className="card">
        <h2>Steps</h2>
        {steps.data ? <Timeline run={data} steps={steps.data} now={now} /> : <p className="empty">Loading…</p>}
      </section>
      <Children run={data} />
      {history.data ? <History events={history.data} /> : null}
    </section>
  );
}
