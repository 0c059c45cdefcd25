import { useState } from 'react';
import type { FormEvent } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { RUN_STATUSES, api } from '../api';
import type { Run, RunFilter } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { useNamespace } from '../components/Layout';
import { StatusBadge } from '../components/StatusBadge';
import { runPath } from '../paths';
import { formatDuration, formatTime, fromLocalInput, time, toLocalInput, useNow } from '../format';

/** The list's filters live in the URL, so a filtered list can be linked to and survives a reload. */
const FILTERS = [
  'status',
  'workflowType',
  'queue',
  'externalId',
  'correlationId',
  'createdAfter',
  'createdBefore',
] as const satisfies readonly (keyof RunFilter)[];

const TEXT_FILTERS = [
  ['workflowType', 'Workflow type'],
  ['queue', 'Queue'],
  ['externalId', 'External id'],
  ['correlationId', 'Correlation id'],
] as const;

function filterOf(params: URLSearchParams): RunFilter {
  const filter: RunFilter = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filter[name] = value;
  }
  return filter;
}

function FilterForm({ filter }: { filter: RunFilter }) {
  const [, setParams] = useSearchParams();
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const raw = String(form.get(name) ?? '').trim();
      const value = name === 'createdAfter' || name === 'createdBefore' ? fromLocalInput(raw) : raw;
      if (value) next.set(name, value);
    }
    setParams(next);
  };
  return (
    // Keyed by the filter: the inputs start from the URL whenever it changes (back button, a link).
    <form className="filters card" onSubmit={apply} key={JSON.stringify(filter)}>
      <label className="field">
        <span>Status</span>
        <select name="status" defaultValue={filter.status ?? ''}>
          <option value="">any</option>
          {RUN_STATUSES.map((status) => (
            <option key={status}>{status}</option>
          ))}
        </select>
      </label>
      {TEXT_FILTERS.map(([name, label]) => (
        <label className="field" key={name}>
          <span>{label}</span>
          <input name={name} defaultValue={filter[name] ?? ''} />
        </label>
      ))}
      <label className="field">
        <span>Created from</span>
        <input type="datetime-local" name="createdAfter" defaultValue={toLocalInput(filter.createdAfter ?? null)} />
      </label>
      <label className="field">
        <span>Created to</span>
        <input type="datetime-local" name="createdBefore" defaultValue={toLocalInput(filter.createdBefore ?? null)} />
      </label>
      <div className="filter-actions">
        <button type="submit" className="primary">
          Apply
        </button>
        <button type="button" onClick={() => setParams(new URLSearchParams())}>
          Clear
        </button>
      </div>
    </form>
  );
}

/** Straight to a run by its id. */
function OpenRun({ namespace }: { namespace: string }) {
  const navigate = useNavigate();
  const [runId, setRunId] = useState('');
  const open = (event: FormEvent) => {
    event.preventDefault();
    if (runId.trim()) navigate(runPath(namespace, runId.trim()));
  };
  return (
    <form className="open-run" onSubmit={open}>
      <input
        name="runId"
        placeholder="Open a run by id"
        aria-label="Run id"
        value={runId}
        onChange={(event) => setRunId(event.target.value)}
      />
      <button type="submit">Open</button>
    </form>
  );
}

function RunsTable({ runs, now }: { runs: Run[]; now: number }) {
  if (runs.length === 0) return <p className="empty">No runs match.</p>;
  return (
    <table className="table runs">
      <thead>
        <tr>
          <th>Run</th>
          <th>Workflow type</th>
          <th>Status</th>
          <th>Queue</th>
          <th>External id</th>
          <th>Created</th>
          <th>Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => {
          const started = time(run.startedAt);
          return (
            <tr key={run.id} data-run-id={run.id}>
              <td className="mono">
                <Link to={runPath(run.namespace, run.id)}>{run.id}</Link>
              </td>
              <td>{run.workflowType}</td>
              <td>
                <StatusBadge status={run.status} />
              </td>
              <td>{run.queue}</td>
              <td className="mono">{run.externalId ?? ''}</td>
              <td>{formatTime(run.createdAt)}</td>
              <td>{started === null ? '—' : formatDuration((time(run.finishedAt) ?? now) - started)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function RunsPage() {
  const namespace = useNamespace();
  const [params] = useSearchParams();
  const filter = filterOf(params);
  const filterKey = JSON.stringify(filter);
  // Page tokens of the pages before the current one, for "Newer"; reset when the filter changes.
  const [pages, setPages] = useState<{ filterKey: string; tokens: (string | undefined)[] }>({
    filterKey,
    tokens: [undefined],
  });
  const tokens = pages.filterKey === filterKey ? pages.tokens : [undefined];
  const pageToken = tokens[tokens.length - 1];
  const now = useNow();

  const runs = useQuery({
    queryKey: ['runs', namespace, filterKey, pageToken],
    queryFn: () => api.runs(namespace, filter, pageToken),
    refetchInterval: 1000,
    placeholderData: keepPreviousData,
  });

  return (
    <section>
      <div className="page-head">
        <h1>Runs</h1>
        <OpenRun namespace={namespace} />
      </div>
      <FilterForm filter={filter} />
      <ErrorBox error={runs.error} />
      {runs.data ? (
        <RunsTable runs={runs.data.items} now={now} />
      ) : runs.isPending ? (
        <p className="empty">Loading…</p>
      ) : null}
      <div className="pager">
        <button
          type="button"
          disabled={tokens.length < 2}
          onClick={() => setPages({ filterKey, tokens: tokens.slice(0, -1) })}
        >
          ← Newer
        </button>
        <span className="muted">Page {tokens.length}</span>
        <button
          type="button"
          disabled={!runs.data?.nextPageToken}
          onClick={() => setPages({ filterKey, tokens: [...tokens, runs.data?.nextPageToken ?? undefined] })}
        >
          Older →
        </button>
      </div>
    </section>
  );
}
