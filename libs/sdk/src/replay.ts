import { RunStatus } from '@baton/contracts';
import type { Step, Task } from '@baton/proto';
import type { Client, ListOptions } from './client';
import { WorkflowContext } from './context';
import { NonDeterminismError } from './errors';
import type { StepCall } from './errors';
import { LeaseClock } from './lease';
import type { RunLink } from './lease';
import { decodePayload, encodePayload } from './payload';
import type { StepRecord } from './views';
import type { WorkflowHandler } from './worker';

/** A recorded step as the replay check needs it: `client.steps()` records fit as they are. */
export type RecordedStep = Pick<StepRecord, 'stepId' | 'seq' | 'kind' | 'status' | 'output' | 'final'> & {
  error?: { message: string; type: string | null } | null;
};

/** One run's recorded history: what `fetchHistories` reads, or what a test or a CI job saved as JSON. */
export interface RecordedHistory {
  /** The run's id. */
  runId: string;
  /** Its workflow type: which of `workflows` replays it. */
  workflowType: string;
  /** The input it was started with. */
  input?: unknown;
  /** Its recorded steps, in `seq` order. */
  steps: readonly RecordedStep[];
  /** The run's status when read. A replay that throws is expected of a FAILED run only. */
  status?: RunStatus;
  /** The run's last error, if it had one (a run waiting for a workflow retry has thrown before). */
  error?: { message: string } | null;
}

/** Why a run would not replay on the current code. */
export interface ReplayFinding {
  /** What is wrong, as the run's failure would say it. */
  message: string;
  /** The history position where code and history part; null when the finding is not about one step. */
  position: number | null;
  /** The step recorded there (null: none). */
  recorded: StepCall | null;
  /** What the code asked for there (null: nothing, it finished first). */
  requested: StepCall | null;
}

/** One run checked. */
export interface ReplayResult {
  /** The run checked. */
  runId: string;
  /** Its workflow type. */
  workflowType: string;
  /** True when the current code asks for the recorded steps at their recorded positions. */
  ok: boolean;
  /**
   * How the replay ended: the workflow returned or threw, or it waits at a call
   * its history does not answer (`history-end`: where the check stops, since
   * running that call would be a side effect); `stuck`: it waited for something
   * else; `not-run`: no workflow of its type was given.
   */
  ended: 'returned' | 'threw' | 'history-end' | 'stuck' | 'not-run';
  /** Why it would not replay; null when `ok`. */
  finding: ReplayFinding | null;
}

/** What `replayHistories` found. */
export interface ReplayReport {
  /** True when every run replays. */
  ok: boolean;
  /** One result per history, in the order given. */
  results: ReplayResult[];
  /** The results that are not ok. */
  failures: ReplayResult[];
}

/** What `replayHistories` checks: the current code against recorded histories. */
export interface ReplayOptions {
  /** The current code: each workflow type's handler, as registered with `worker.register`. */
  workflows: Readonly<Record<string, WorkflowHandler<never, unknown>>>;
  /** The runs to replay (`fetchHistories`, or histories saved as JSON). */
  histories: Iterable<RecordedHistory>;
  /**
   * How long a workflow may wait on something other than its steps (a timer
   * outside any step) before it counts as stuck. Default 5 s.
   */
  stuckAfterMs?: number;
}

const neverSettles = () => new Promise<never>(() => undefined);

/** Calls that reached what the history does not hold (a step body, a server call): where the check stops. */
interface Stalls {
  count: number;
}

/**
 * The worker's own context, with its replay and determinism rules, where
 * whatever the history does not answer waits forever instead of running: no
 * step body runs and nothing reaches a server.
 */
class ReplayContext extends WorkflowContext {
  /** The first non-determinism met, even where the workflow caught it. */
  firstMismatch: NonDeterminismError | null = null;

  constructor(
    task: Task,
    link: RunLink,
    signal: AbortSignal,
    private readonly stalls: Stalls,
  ) {
    super(task, link, signal);
  }

  protected override beyondHistory(): Promise<never> {
    this.stalls.count++;
    return neverSettles();
  }

  protected override mismatch(err: NonDeterminismError): NonDeterminismError {
    this.firstMismatch ??= err;
    return err;
  }
}

function stepMessage(runId: string, step: RecordedStep): Step {
  return {
    runId,
    stepId: step.stepId,
    seq: step.seq,
    kind: step.kind,
    status: step.status,
    output: encodePayload(step.output),
    final: step.final,
    ...(step.error ? { error: { message: step.error.message, type: step.error.type ?? '' } } : {}),
  };
}

function findingOf(err: NonDeterminismError): ReplayFinding {
  return {
    message: err.message,
    position: err.detail?.position ?? null,
    recorded: err.detail?.recorded ?? null,
    requested: err.detail?.requested ?? null,
  };
}

const problem = (message: string): ReplayFinding => ({ message, position: null, recorded: null, requested: null });

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs one history against its handler until the handler settles or waits where the history ends. */
async function replayOne(
  history: RecordedHistory,
  handler: WorkflowHandler<never, unknown>,
  stuckAfterMs: number,
): Promise<ReplayResult> {
  const { runId, workflowType } = history;
  const task: Task = {
    runId,
    workflowType,
    attempt: 1,
    input: encodePayload(history.input),
    history: [...history.steps].sort((a, b) => a.seq - b.seq).map((s) => stepMessage(runId, s)),
  };
  const stalls: Stalls = { count: 0 };
  // Nothing here reaches a server: a call the history does not answer waits forever.
  const link: RunLink = {
    transport: {
      call: () => {
        stalls.count++;
        return neverSettles();
      },
    },
    lease: { namespace: '', runId, workerId: '', leaseEpoch: 0, leaseToken: '' },
    clock: new LeaseClock(),
    abandon: () => undefined,
  };
  const ctx = new ReplayContext(task, link, new AbortController().signal, stalls);
  const outcome: { settled: { threw: false } | { threw: true; err: unknown } | null } = { settled: null };
  Promise.resolve()
    .then(() => handler(ctx, decodePayload<never>(task.input)))
    .then(
      () => (outcome.settled = { threw: false }),
      (err: unknown) => (outcome.settled = { threw: true, err }),
    );

  // Replayed steps answer in microtasks, so one turn of the event loop without a new call means the
  // workflow waits; where it waits at the history's end, the check is over.
  const startedAt = Date.now();
  let seen = -1;
  let ended: ReplayResult['ended'] | null = null;
  while (!outcome.settled && !ended) {
    const progress = ctx.stepsCalled + stalls.count;
    if (progress === seen && stalls.count > 0) ended = 'history-end';
    else if (Date.now() - startedAt > stuckAfterMs) ended = 'stuck';
    else await (progress === seen ? pause(10) : nextTurn());
    seen = progress;
  }
  const result = (ok: boolean, end: ReplayResult['ended'], finding: ReplayFinding | null): ReplayResult => ({
    runId,
    workflowType,
    ok,
    ended: end,
    finding,
  });
  const done = outcome.settled;
  const endedAs = ended ?? (done?.threw ? 'threw' : 'returned');
  if (ctx.firstMismatch) return result(false, endedAs, findingOf(ctx.firstMismatch));
  if (done?.threw && done.err instanceof NonDeterminismError) return result(false, endedAs, findingOf(done.err));
  if (ended === 'stuck') {
    return result(
      false,
      ended,
      problem(`the workflow neither finished nor reached the end of its history within ${stuckAfterMs} ms`),
    );
  }
  // Stopped at the history's end: steps recorded further on may hang on the one it waits at.
  if (ended === 'history-end') return result(true, ended, null);
  const leftOver = ctx.historyLeftOver();
  if (leftOver) return result(false, endedAs, findingOf(leftOver));
  if (done?.threw && history.status !== RunStatus.FAILED && !history.error) {
    const err = done.err;
    return result(false, endedAs, problem(`the workflow threw: ${err instanceof Error ? err.message : String(err)}`));
  }
  return result(true, endedAs, null);
}

/**
 * Runs recorded histories against the current workflow code, without side
 * effects, the way a worker would replay them: every recorded step answers
 * its recorded output, and the check of each run stops where its history
 * ends (no step body runs, nothing is sent). Reports, per run, a step asked
 * for where the history holds another (position, recorded vs requested), a
 * recorded step the code never asks for, a missing workflow type, or a throw
 * where the recorded run did not fail. Run it in CI before a deploy, on
 * histories from `fetchHistories`.
 *
 * ```ts
 * const report = await replayHistories({ workflows: { order: orderWorkflow }, histories: await fetchHistories(client) });
 * if (!report.ok) throw new Error(JSON.stringify(report.failures, null, 2));
 * ```
 */
export async function replayHistories(options: ReplayOptions): Promise<ReplayReport> {
  const stuckAfterMs = options.stuckAfterMs ?? 5_000;
  const results: ReplayResult[] = [];
  for (const history of options.histories) {
    const handler = Object.prototype.hasOwnProperty.call(options.workflows, history.workflowType)
      ? options.workflows[history.workflowType]
      : undefined;
    results.push(
      handler
        ? await replayOne(history, handler, stuckAfterMs)
        : {
            runId: history.runId,
            workflowType: history.workflowType,
            ok: false,
            ended: 'not-run',
            finding: problem(`no workflow of type "${history.workflowType}" in the code checked`),
          },
    );
  }
  const failures = results.filter((r) => !r.ok);
  return { ok: failures.length === 0, results, failures };
}

/** Which runs `fetchHistories` reads: the filters of `client.list`, and how many at most. */
export interface FetchHistoriesOptions extends Omit<ListOptions, 'pageSize' | 'pageToken'> {
  /** Most runs read, newest first. Default 100. */
  limit?: number;
}

/**
 * Reads the recorded histories of a namespace's runs (newest first) for
 * `replayHistories`: each run's input, status and steps. Runs still in
 * flight are the ones a deploy replays on the new code; finished ones are a
 * corpus of real histories.
 *
 * @throws {@link BatonError} as `client.list` and `client.steps` do.
 */
export async function fetchHistories(client: Client, options: FetchHistoriesOptions = {}): Promise<RecordedHistory[]> {
  const { limit = 100, ...filter } = options;
  const histories: RecordedHistory[] = [];
  let pageToken: string | undefined;
  while (histories.length < limit) {
    const page = await client.list({ ...filter, pageSize: Math.min(100, limit - histories.length), pageToken });
    histories.push(
      ...(await Promise.all(
        page.runs.map(async ({ id }) => {
          const [run, steps] = await Promise.all([client.get(id), client.steps(id)]);
          return {
            runId: id,
            workflowType: run.workflowType,
            input: run.input,
            steps,
            status: run.status,
            error: run.error,
          };
        }),
      )),
    );
    if (!page.nextPageToken) break;
    pageToken = page.nextPageToken;
  }
  return histories;
}
