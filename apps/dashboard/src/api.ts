import { apiKeyStore } from './api-key';

/*
 * The public HTTP API under /v1, as the dashboard reads it: the same routes
 * and shapes as curl or the CLI see (apps/frontend src/edge/views.ts), with
 * the API key the user entered as a bearer token.
 */

export const RUN_STATUSES = [
  'PENDING',
  'RUNNING',
  'SLEEPING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TERMINATED',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
const TERMINAL: readonly RunStatus[] = ['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED'];

export const isTerminal = (status: RunStatus): boolean => TERMINAL.includes(status);

export interface ErrorInfo {
  message: string;
  type?: string | null;
  stack?: string | null;
  nonRetryable?: boolean;
}

/** A JSON payload arrives under `input`/`output`, a binary one as base64 under `inputBase64`/`outputBase64`. */
export interface Run {
  id: string;
  namespace: string;
  queue: string;
  workflowType: string;
  status: RunStatus;
  externalId: string | null;
  attempt: number;
  claims: number;
  input?: unknown;
  inputBase64?: string;
  output?: unknown;
  outputBase64?: string;
  error: ErrorInfo | null;
  correlationId: string | null;
  traceId: string | null;
  scheduleId: string | null;
  lockedBy: string | null;
  wakeUpAt: string | null;
  deadlineAt: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
  parentRunId: string | null;
  parentStepId: string | null;
  priority: number;
}

export type StepKind = 'FUNCTION' | 'SLEEP' | 'SIGNAL' | 'CHILD';

export interface Step {
  runId: string;
  stepId: string;
  seq: number;
  kind: StepKind;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED';
  attempt: number;
  output?: unknown;
  outputBase64?: string;
  error: ErrorInfo | null;
  final: boolean;
  retryAt: string | null;
  wakeUpAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  childRunId: string | null;
}

export interface HistoryEvent {
  id: string;
  runId: string;
  at: string;
  action: string;
  actor: string | null;
  reason: string | null;
  detail: Record<string, string>;
}

export interface Schedule {
  scheduleId: string;
  workflowType: string;
  queue: string;
  cron: string;
  timezone: string;
  paused: boolean;
  nextFireAt: string | null;
  lastFiredAt: string | null;
}

export interface Worker {
  id: string;
  queue: string;
  hostname: string;
  pid: number;
  version: string;
  workflowTypes: string[];
  maxConcurrent: number;
  status: 'ONLINE' | 'DRAINING' | 'OFFLINE';
  activeCount: number;
  registeredAt: string;
  lastHeartbeatAt: string;
}

export interface Queue {
  queue: string;
  pending: number;
  running: number;
  sleeping: number;
  oldestClaimableAgeMs: number | null;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}

/** The API's error body, {"error":{"code","message","field"}}, or what stood in for it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field: string | null = null,
  ) {
    super(message);
  }
}

interface ErrorBody {
  error?: { code?: string; message?: string; field?: string | null };
}

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => null)) as ErrorBody | null;
  const error = body?.error;
  return new ApiError(
    res.status,
    error?.code ?? `HTTP_${res.status}`,
    error?.message ?? (res.statusText || `the server answered ${res.status}`),
    error?.field ?? null,
  );
}

type Query = Record<string, string | undefined>;

async function call<T>(method: 'GET' | 'POST', path: string, query: Query = {}, body?: object): Promise<T> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const url = `/v1${path}${params.size ? `?${params}` : ''}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = apiKeyStore.get();
  if (key) headers.authorization = `Bearer ${key}`;
  if (body) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
  } catch (err) {
    throw new ApiError(0, 'UNREACHABLE', `the server did not answer (${(err as Error).message})`);
  }
  if (res.status === 401) apiKeyStore.rejected(key);
  if (!res.ok) throw await errorOf(res);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

const ns = (namespace: string) => `/namespaces/${encodeURIComponent(namespace)}`;
const runPath = (namespace: string, runId: string) => `${ns(namespace)}/workflows/${encodeURIComponent(runId)}`;

export interface RunFilter {
  status?: string;
  workflowType?: string;
  queue?: string;
  externalId?: string;
  correlationId?: string;
  createdAfter?: string;
  createdBefore?: string;
  parentRunId?: string;
}

export const api = {
  async runs(namespace: string, filter: RunFilter, pageToken?: string, pageSize = 25): Promise<Page<Run>> {
    const page = await call<{ runs: Run[]; nextPageToken: string | null }>('GET', `${ns(namespace)}/workflows`, {
      ...filter,
      pageToken,
      pageSize: String(pageSize),
    });
    return { items: page.runs, nextPageToken: page.nextPageToken || null };
  },

  run: (namespace: string, runId: string) => call<Run>('GET', runPath(namespace, runId)),

  /** Every step of a run, page after page (a run's history is bounded, and the timeline shows it whole). */
  async steps(namespace: string, runId: string): Promise<Step[]> {
    const steps: Step[] = [];
    let pageToken: string | undefined;
    do {
      const page = await call<{ steps: Step[]; nextPageToken: string | null }>(
        'GET',
        `${runPath(namespace, runId)}/steps`,
        { pageSize: '100', pageToken },
      );
      steps.push(...page.steps);
      pageToken = page.nextPageToken || undefined;
    } while (pageToken);
    return steps;
  },

  async history(namespace: string, runId: string): Promise<HistoryEvent[]> {
    const page = await call<{ events: HistoryEvent[] }>('GET', `${runPath(namespace, runId)}/history`);
    return page.events;
  },

  cancel: (namespace: string, runId: string) =>
    call<{ run: Run }>('POST', `${runPath(namespace, runId)}/cancel`, {}, {}),
  retry: (namespace: string, runId: string, reason?: string) =>
    call<{ run: Run }>('POST', `${runPath(namespace, runId)}/retry`, {}, reason ? { reason } : {}),
  terminate: (namespace: string, runId: string, reason: string) =>
    call<{ run: Run }>('POST', `${runPath(namespace, runId)}/terminate`, {}, { reason }),

  async schedules(namespace: string): Promise<Page<Schedule>> {
    const page = await call<{ schedules: Schedule[]; nextPageToken: string | null }>(
      'GET',
      `${ns(namespace)}/schedules`,
      { pageSize: '500' },
    );
    return { items: page.schedules, nextPageToken: page.nextPageToken || null };
  },
  pauseSchedule: (namespace: string, id: string) =>
    call<Schedule>('POST', `${ns(namespace)}/schedules/${encodeURIComponent(id)}/pause`, {}, {}),
  resumeSchedule: (namespace: string, id: string) =>
    call<Schedule>('POST', `${ns(namespace)}/schedules/${encodeURIComponent(id)}/resume`, {}, {}),
  triggerSchedule: (namespace: string, id: string) =>
    call<{ runId: string }>('POST', `${ns(namespace)}/schedules/${encodeURIComponent(id)}/trigger`, {}, {}),

  async workers(namespace: string, status?: string): Promise<Worker[]> {
    return (await call<{ workers: Worker[] }>('GET', `${ns(namespace)}/workers`, { status, pageSize: '500' })).workers;
  },
  drainWorker: (namespace: string, workerId: string) =>
    call<Worker>('POST', `${ns(namespace)}/workers/${encodeURIComponent(workerId)}/drain`, {}, {}),

  async queues(namespace: string): Promise<Queue[]> {
    return (await call<{ queues: Queue[] }>('GET', `${ns(namespace)}/queues`)).queues;
  },
};
