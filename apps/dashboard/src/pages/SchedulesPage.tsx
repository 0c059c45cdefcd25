import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api';
import type { Schedule } from '../api';
import { ErrorBox } from '../components/ErrorBox';
import { useNamespace } from '../components/Layout';
import { formatAge, formatAgo, formatTime, useNow } from '../format';
import { runPath } from '../paths';

type ScheduleAction = 'pause' | 'resume' | 'trigger';

function ScheduleRow({ namespace, schedule, now }: { namespace: string; schedule: Schedule; now: number }) {
  const queryClient = useQueryClient();
  const [triggered, setTriggered] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: async (action: ScheduleAction) => {
      if (action === 'pause') await api.pauseSchedule(namespace, schedule.scheduleId);
      if (action === 'resume') await api.resumeSchedule(namespace, schedule.scheduleId);
      if (action === 'trigger') setTriggered((await api.triggerSchedule(namespace, schedule.scheduleId)).runId);
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['schedules', namespace] }),
  });
  return (
    <tr data-schedule-id={schedule.scheduleId}>
      <td className="mono">{schedule.scheduleId}</td>
      <td>{schedule.workflowType}</td>
      <td>{schedule.queue}</td>
      <td className="mono">
        {schedule.cron} <span className="muted">{schedule.timezone}</span>
      </td>
      <td>
        {schedule.paused ? (
          <span className="badge badge-paused">PAUSED</span>
        ) : (
          <span className="badge badge-active">ACTIVE</span>
        )}
      </td>
      <td>{schedule.paused ? '—' : formatAge(schedule.nextFireAt, now)}</td>
      <td title={formatTime(schedule.lastFiredAt)}>{formatAgo(schedule.lastFiredAt, now)}</td>
      <td>
        <div className="actions">
          {schedule.paused ? (
            <button type="button" disabled={act.isPending} onClick={() => act.mutate('resume')}>
              Resume
            </button>
          ) : (
            <button type="button" disabled={act.isPending} onClick={() => act.mutate('pause')}>
              Pause
            </button>
          )}
          <button type="button" disabled={act.isPending} onClick={() => act.mutate('trigger')}>
            Trigger now
          </button>
        </div>
        {triggered ? (
          <p className="note">
            Started <Link to={runPath(namespace, triggered)}>{triggered}</Link>
          </p>
        ) : null}
        <ErrorBox error={act.error} />
      </td>
    </tr>
  );
}

export function SchedulesPage() {
  const namespace = useNamespace();
  const now = useNow();
  const schedules = useQuery({
    queryKey: ['schedules', namespace],
    queryFn: () => api.schedules(namespace),
    refetchInterval: 1000,
  });
  return (
    <section>
      <div className="page-head">
        <h1>Schedules</h1>
      </div>
      <ErrorBox error={schedules.error} />
      {schedules.data?.items.length === 0 ? <p className="empty">No schedules in this namespace.</p> : null}
      {schedules.data?.items.length ? (
        <table className="table">
          <thead>
            <tr>
              <th>Schedule</th>
              <th>Workflow type</th>
              <th>Queue</th>
              <th>Cron</th>
              <th>State</th>
              <th>Next fire</th>
              <th>Last fired</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {schedules.data.items.map((schedule) => (
              <ScheduleRow key={schedule.scheduleId} namespace={namespace} schedule={schedule} now={now} />
            ))}
          </tbody>
        </table>
      ) : null}
      {schedules.data?.nextPageToken ? <p className="muted">Showing the first 500 schedules.</p> : null}
    </section>
  );
}
