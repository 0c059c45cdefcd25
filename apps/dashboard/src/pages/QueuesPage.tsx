import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { useNamespace } from '../components/Layout';
import { formatDuration } from '../format';
import { namespacePath } from '../paths';

export function QueuesPage() {
  const namespace = useNamespace();
  const queues = useQuery({
    queryKey: ['queues', namespace],
    queryFn: () => api.queues(namespace),
    refetchInterval: 1000,
  });
  return (
    <section>
      <div className="page-head">
        <h1>Queues</h1>
      </div>
      <ErrorBox error={queues.error} />
      {queues.data?.length === 0 ? <p className="empty">No queues in this namespace yet.</p> : null}
      {queues.data?.length ? (
        <table className="table">
          <thead>
            <tr>
              <th>Queue</th>
              <th className="num">Backlog (pending)</th>
              <th className="num">Running</th>
              <th className="num">Sleeping</th>
              <th className="num">Oldest waiting</th>
            </tr>
          </thead>
          <tbody>
            {queues.data.map((queue) => (
              <tr key={queue.queue} data-queue={queue.queue}>
                <td>
                  <Link to={`${namespacePath(namespace)}/runs?queue=${encodeURIComponent(queue.queue)}`}>
                    {queue.queue}
                  </Link>
                </td>
                <td className="num backlog">{queue.pending}</td>
                <td className="num">{queue.running}</td>
                <td className="num">{queue.sleeping}</td>
                <td className="num">
                  {queue.oldestClaimableAgeMs === null ? '—' : formatDuration(queue.oldestClaimableAgeMs)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
