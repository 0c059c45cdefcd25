import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Link, Navigate, RouterProvider, createBrowserRouter } from 'react-router';
import { ApiError } from './api';
import { DEFAULT_NAMESPACE, Layout } from './components/Layout';
import { namespacePath } from './paths';
import { QueuesPage } from './pages/QueuesPage';
import { RunPage } from './pages/RunPage';
import { RunsPage } from './pages/RunsPage';
import { SchedulesPage } from './pages/SchedulesPage';
import { WorkersPage } from './pages/WorkersPage';
import './styles.css';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A refusal (bad filter, no key, no such run) will not change by asking again; an outage may.
      retry: (failures, error) =>
        failures < 2 && !(error instanceof ApiError && error.status >= 400 && error.status < 500),
      // Pages poll on their own; a background tab need not.
      refetchIntervalInBackground: false,
    },
  },
});

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>
        Nothing lives at this address. <Link to={`${namespacePath(DEFAULT_NAMESPACE)}/runs`}>See the runs.</Link>
      </p>
    </section>
  );
}

const router = createBrowserRouter(
  [
    {
      path: '/',
      element: <Layout />,
      children: [
        { index: true, element: <Navigate to={`${namespacePath(DEFAULT_NAMESPACE)}/runs`} replace /> },
        {
          path: 'namespaces/:namespace',
          children: [
            { index: true, element: <Navigate to="runs" replace /> },
            { path: 'runs', element: <RunsPage /> },
            { path: 'runs/:runId', element: <RunPage /> },
            { path: 'schedules', element: <SchedulesPage /> },
            { path: 'workers', element: <WorkersPage /> },
            { path: 'queues', element: <QueuesPage /> },
          ],
        },
        { path: '*', element: <NotFound /> },
      ],
    },
  ],
  // The frontend serves the dashboard under /ui (vite.config.ts `base`).
  { basename: import.meta.env.BASE_URL.replace(/\/$/, '') },
);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
