import type { RunHistoryAction } from '@baton/contracts';
import type { RequestOf, RunHistoryEvent as RunHistoryEventMessage } from '@baton/proto';
import { activeTraceparent } from './tracing';
import { checkOptions, sendChecked } from './schedules';
import type { Transport } from './transport';
import { runFromWire } from './views';
import type { WorkflowRun } from './views';

/** An entry of a run's history: something done to the run through the API. */
export interface RunHistoryEvent {
  /** Increasing within the run. */
  id: string;
  /** The run it was done to. */
  runId: string;
  /** When. */
  at: Date;
  /** CANCELLED, TERMINATED, RETRIED or RESET. */
  action: RunHistoryAction;
  /** The API key id that acted; null when the server runs without authentication. */
  actor: string | null;
  /** The reason given with it; null without one. */
  reason: string | null;
  /** What the action changed: `from` (the run's status before it), a reset's `stepId` and `seq`, ... */
  detail: Record<string, string>;
}

/** Options of `client.reset`. */
export interface ResetOptions {
  /** A step the run recorded: it and every later step are deleted and run again. */
  stepId: string;
  /** Why, for the run's history. */
  reason?: string;
}

const RESET_OPTIONS: ReadonlyArray<keyof ResetOptions> = ['stepId', 'reason'];

function historyFromWire(m: RunHistoryEventMessage): RunHistoryEvent {
  return {
    id: m.id ?? '',
    runId: m.runId ?? '',
    at: new Date(m.atMs ?? 0),
    action: m.action as RunHistoryAction,
    actor: m.actor || null,
    reason: m.reason || null,
    detail: m.detail ?? {},
  };
}

/** The operator actions of Client (terminate, retry, reset) and the run's history. */
export class OperatorCalls {
  constructor(
    private readonly transport: Pick<Transport, 'call'>,
    private readonly namespace: string,
  ) {}

  async terminate(runId: string, reason: string): Promise<{ alreadyTerminated: boolean; run: WorkflowRun }> {
    const res = await this.call('Terminate', { namespace: this.namespace, runId, reason });
    return { alreadyTerminated: !!res.alreadyTerminated, run: runFromWire(res.run) };
  }

  async retry(runId: string, options: { reason?: string } = {}): Promise<WorkflowRun> {
    checkOptions(options, ['reason'], 'options');
    const res = await this.call('Retry', { namespace: this.namespace, runId, reason: options.reason ?? '' });
    return runFromWire(res.run);
  }

  async reset(runId: string, options: ResetOptions): Promise<WorkflowRun> {
    checkOptions(options, RESET_OPTIONS, 'options');
    const request = { namespace: this.namespace, runId, stepId: options.stepId, reason: options.reason ?? '' };
    return runFromWire((await this.call('Reset', request)).run);
  }

  async history(runId: string): Promise<RunHistoryEvent[]> {
    const all: RunHistoryEvent[] = [];
    let pageToken = '';
    do {
      const res = await this.call('ListHistory', { namespace: this.namespace, runId, pageSize: 100, pageToken });
      all.push(...(res.events ?? []).map(historyFromWire));
      pageToken = res.nextPageToken ?? '';
    } while (pageToken);
    return all;
  }

  private call<M extends 'Terminate' | 'Retry' | 'Reset' | 'ListHistory'>(
    method: M,
    request: RequestOf<'workflow', M>,
  ) {
    // The server's span for the call joins the caller's trace, if any.
    return sendChecked(this.transport, 'workflow', method, request, { traceparent: activeTraceparent() });
  }
}
