import { useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api';
import type { Worker } from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorBox } from '../components/ErrorBox';
import { useNamespace } from '../components/Layout';
import { StatusBadge } from '../components/StatusBadge';
import { formatAgo, useNow } from '../format';

const STATUSES = ['ONLINE', 'DRAINING', 'OFFLINE'] as const;

function Slots({ used, max }: { used: number; max: number }) {
  return (
    <span className="slots" title={`${used} of ${max} slots in use`}>
      <span className="meter">
        <span style={{ width: `${Math.min(100, (used / Math.max(max, 1)) * 100)}%` }} />
      </span>
      {used}/{max}
    </span>
  );
}

export function WorkersPage() {
  const namespace = useNamespace();
  const now = useNow();
  const queryClient = useQueryClient();
  const [status, setStatus] = useState('');
  const [draining, setDraining] = useState<Worker | null>(null);
  const workers = useQuery({
    queryKey: ['workers', namespace, status],
    queryFn: () => api.workers(namespace, status || undefined),
    refetchInterval: 1000,
  });
  return (
    <section>
      <div className="page-head">
        <h1>Workers</h1>
        <label className="field inline">
          <span>Status</span>
          <select name="status" value={status} onChange={(event) => setStatus(event.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      <ErrorBox error={workers.error} />
      {workers.data?.length === 0 ? <p className="empty">No workers.</p> : null}
      {workers.data?.length ? (
        <table className="table">
          <thead>
            <tr>
              <th>Worker</th>
              <th>Host</th>
              <th>Queue</th>
              <th>Status</th>
              <th>Slots</th>
              <th>Last heartbeat</th>
              <th>Workflow types</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {workers.data.map((worker) => (
              <tr key={worker.id} data-worker-id={worker.id}>
                <td className="mono">{worker.id}</td>
                <td>
                  {worker.hostname}
                  <span className="muted"> pid {worker.pid}</span>
                  {worker.version ? <span className="muted"> v{worker.version}</span> : null}
                </td>
                <td>{worker.queue}</td>
                <td>
                  <StatusBadge status={worker.status} />
                </td>
                <td>
                  <Slots used={worker.activeCount} max={worker.maxConcurrent} />
                </td>
                <td>{formatAgo(worker.lastHeartbeatAt, now)}</td>
                <td>{worker.workflowTypes.join(', ')}</td>
                <td>
                  {worker.status === 'ONLINE' ? (
                    <button type="button" onClick={() => setDraining(worker)}>
                      Drain
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {draining ? (
        <ConfirmDialog
          title="Drain this worker?"
          confirmLabel="Drain"
          onClose={() => setDraining(null)}
          onConfirm={async () => {
            await api.drainWorker(namespace, draining.id);
            await queryClient.invalidateQueries({ queryKey: ['workers', namespace] });
          }}
        >
          {draining.hostname} (pid {draining.pid}) takes no new runs; the runs it holds finish, then it leaves.
        </ConfirmDialog>
      ) : null}
    </section>
  );
}
