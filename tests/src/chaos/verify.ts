import { isTerminal } from '@baton/contracts';
import type { RunStatus } from '@baton/contracts';
import { micros } from './observer';
import type { Observer } from './observer';
import { iso, usIso } from './monitor';
import type { OfflineWhileAlive } from './monitor';
import type { FaultRecord } from './faults';
import type { Violations } from './violations';
import { expectedRunOutput, expectedStepOutputs } from './workflow';
import type { RunOutput, StepOutput } from './workflow';

interface RunRow {
  id: string;
  external_id: string | null;
  status: string;
  attempt: number;
  recoveries: number | null;
  claims: number;
  lease_epoch: number;
  locked_by: string | null;
  locked_until_ms: string | null;
  available_at_ms: string | null;
  error_type: string | null;
  error_message: string | null;
  output: string | null;
  worker_status: string | null;
  worker_pid: number | null;
  worker_hostname: string | null;
}

interface StepRow {
  run_id: string;
  step_id: string;
  seq: number;
  status: string;
  attempt: number;
  output: string | null;
  finished_us: string | null;
  error_message: string | null;
}

interface LedgerRow {
  exec_id: string;
  run_id: string;
  step_id: string;
  run_attempt: number;
  worker_pid: number;
  started_us: string;
  body_finished_us: string | null;
  output_digest: string | null;
}

export interface VerifyInput {
  observer: Observer;
  violations: Violations;
  /** index → run id, for every start the frontend acknowledged. */
  accepted: Map<number, string>;
  /** Indexes whose start was never acknowledged. */
  neverAccepted: number[];
  externalPrefix: string;
  steps: number;
  faults: FaultRecord[];
  offlineWhileAlive: OfflineWhileAlive[];
  staleThresholdMs: number;
  livePids: Set<number>;
}

export interface VerifyStats {
  runsInDatabase: number;
  byStatus: Record<string, number>;
  /** Extra runs for one index (a start whose reply was lost, retried after the first run had finished). */
  duplicateStarts: number;
  stepExecutions: number;
  /** Steps whose body ran more than once (allowed while the step had not completed). */
  stepsReExecuted: number;
  maxExecutionsOfOneStep: number;
  attemptHistogram: Record<string, number>;
  recoveriesTotal: number | null;
  claimsTotal: number;
  /** Sorted completion times (ms) of every step, for the recovery measurements. */
  completions: number[];
}

const parse = <T>(hex: string | null): T | undefined => {
  if (!hex) return undefined;
  try {
    return JSON.parse(Buffer.from(hex, 'hex').toString('utf8')) as T;
  } catch {
    return undefined;
  }
};

const usToMs = (us: string) => Number(BigInt(us) / 1000n);

/** The final verdict over the database after the run settled (or hit its deadline). */
export async function verify(input: VerifyInput): Promise<VerifyStats> {
  const { observer, violations } = input;
  const hasRecoveries = await observer.hasColumn('workflow_runs', 'recoveries');
  const runs = await observer.rowsPatiently<RunRow>(
    `SELECT r.id::text AS id, r.external_id, r.status, r.attempt, ${hasRecoveries ? 'r.recoveries' : 'NULL::int'} AS recoveries,
            r.claims, r.lease_epoch, r.locked_by::text AS locked_by,
            (extract(epoch from r.locked_until) * 1000)::bigint::text AS locked_until_ms,
            (extract(epoch from r.available_at) * 1000)::bigint::text AS available_at_ms,
            r.error_type, r.error_message, encode(p.output, 'hex') AS output,
            w.status AS worker_status, w.pid AS worker_pid, w.hostname AS worker_hostname
       FROM workflow_runs r
       LEFT JOIN workflow_payloads p ON p.run_id = r.id
       LEFT JOIN workers w ON w.id = r.locked_by`,
  );
  const steps = await observer.rowsPatiently<StepRow>(
    `SELECT run_id::text AS run_id, step_id, seq, status, attempt, encode(output, 'hex') AS output,
            ${micros('finished_at')} AS finished_us, error_message
       FROM step_runs`,
  );
  const ledger = await observer.rowsPatiently<LedgerRow>(
    `SELECT exec_id::text AS exec_id, run_id::text AS run_id, step_id, run_attempt, worker_pid,
            ${micros('started_at')} AS started_us, ${micros('body_finished_at')} AS body_finished_us, output_digest
       FROM chaos_ledger`,
  );

  const stepsByRun = groupBy(steps, (s) => s.run_id);
  const execsByStep = groupBy(ledger, (l) => `${l.run_id}|${l.step_id}`);
  const runsById = new Map(runs.map((r) => [r.id, r]));
  const now = Date.now();

  // lost: a start the frontend acknowledged whose run does not exist, or a start it never accepted.
  for (const [index, runId] of input.accepted) {
    if (!runsById.has(runId)) {
      violations.add({
        invariant: 'lost',
        runId,
        detail: `run #${index} was acknowledged by Start but is not in the database`,
      });
    }
  }
  for (const index of input.neverAccepted) {
    violations.add({ invariant: 'lost', detail: `run #${index}: Start was never acknowledged before the deadline` });
  }

  const indexOf = (run: RunRow): number | undefined => {
    if (!run.external_id?.startsWith(input.externalPrefix)) return undefined;
    return Number(run.external_id.slice(input.externalPrefix.length));
  };
  const perIndex = new Map<number, number>();
  const byStatus: Record<string, number> = {};
  const attemptHistogram: Record<string, number> = {};
  let recoveriesTotal = 0;
  let claimsTotal = 0;

  for (const run of runs) {
    byStatus[run.status] = (byStatus[run.status] ?? 0) + 1;
    attemptHistogram[String(run.attempt)] = (attemptHistogram[String(run.attempt)] ?? 0) + 1;
    recoveriesTotal += run.recoveries ?? 0;
    claimsTotal += Number(run.claims);
    const index = indexOf(run);
    if (index === undefined) continue;
    perIndex.set(index, (perIndex.get(index) ?? 0) + 1);
    const runSteps = stepsByRun.get(run.id) ?? [];
    const done = runSteps.filter((s) => s.status === 'COMPLETED').length;
    const attempts = `attempt ${run.attempt}${run.recoveries !== null ? `, recoveries ${run.recoveries}` : ''}, claims ${run.claims}, lease epoch ${run.lease_epoch}`;

    if (!isTerminal(run.status as RunStatus)) {
      const owner = run.locked_by
        ? `locked by ${run.locked_by} (${run.worker_hostname ?? '?'} pid ${run.worker_pid ?? '?'}, ${run.worker_status ?? 'no worker row'}, process ${input.livePids.has(Number(run.worker_pid)) ? 'alive' : 'dead'})` +
          (run.locked_until_ms ? ` until ${relative(Number(run.locked_until_ms), now)}` : '')
        : 'not locked';
      violations.add({
        invariant: 'stuck',
        runId: run.id,
        detail: `#${index} still ${run.status} at the deadline: ${owner}; available ${run.available_at_ms ? relative(Number(run.available_at_ms), now) : '-'}; ${done}/${input.steps} steps completed; ${attempts}; last error ${run.error_type ?? '-'}: ${run.error_message ?? '-'}`,
      });
    }
    if (run.status !== 'COMPLETED' && isTerminal(run.status as RunStatus)) {
      violations.add({
        invariant: 'failed',
        runId: run.id,
        detail: `#${index} ${run.status}: ${run.error_type ?? '-'}: ${run.error_message ?? '-'} (${attempts}; ${done}/${input.steps} steps completed)`,
      });
    }

    // retry-spent: nothing in this workload ever fails on its own, so any recorded failure is a fault's doing.
    const businessAttempt = run.recoveries !== null ? run.attempt - run.recoveries : null;
    if (businessAttempt !== null && businessAttempt > 1) {
      violations.add({
        invariant: 'retry-spent',
        runId: run.id,
        detail: `#${index}: business attempt ${businessAttempt} (${attempts}): a fault was charged to the retry policy`,
      });
    }
    if (run.error_message !== null && run.status !== 'FAILED') {
      violations.add({
        invariant: 'retry-spent',
        runId: run.id,
        detail: `#${index} ${run.status} with a recorded workflow error ${run.error_type ?? '-'}: ${run.error_message} (${attempts})`,
      });
    }
    for (const step of runSteps) {
      if (step.attempt > 1 || step.error_message !== null) {
        violations.add({
          invariant: 'retry-spent',
          runId: run.id,
          detail: `#${index} step ${step.step_id}: attempt ${step.attempt}, error "${step.error_message ?? '-'}" (status ${step.status}): a fault was recorded as a step failure`,
        });
      }
    }

    // Outputs: each step's and the run's are what the workflow computes.
    const expectedSteps = expectedStepOutputs(run.id, input.steps);
    for (const step of runSteps) {
      if (step.status !== 'COMPLETED') continue;
      const k = Number(step.step_id.slice(1));
      const got = parse<StepOutput>(step.output);
      const want = expectedSteps[k];
      if (!want || got?.digest !== want.digest || got.step !== want.step) {
        violations.add({
          invariant: 'wrong-output',
          runId: run.id,
          detail: `#${index} step ${step.step_id}: stored ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
        });
      }
    }
    if (run.status === 'COMPLETED') {
      const want = expectedRunOutput(run.id, { index, steps: input.steps });
      const got = parse<RunOutput>(run.output);
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        violations.add({
          invariant: 'wrong-output',
          runId: run.id,
          detail: `#${index} output ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`,
        });
      }
      if (done !== input.steps) {
        violations.add({
          invariant: 'wrong-output',
          runId: run.id,
          detail: `#${index} COMPLETED with ${done}/${input.steps} steps COMPLETED`,
        });
      }
    }
  }

  // The ledger against the recorded completions.
  for (const step of steps) {
    if (step.status !== 'COMPLETED' || !step.finished_us || !/^s\d+$/.test(step.step_id)) continue;
    const finishedUs = BigInt(step.finished_us);
    const execs = execsByStep.get(`${step.run_id}|${step.step_id}`) ?? [];
    for (const exec of execs) {
      if (BigInt(exec.started_us) > finishedUs) {
        violations.add({
          invariant: 'body-after-completion',
          runId: step.run_id,
          detail: `step ${step.step_id} completed at ${usIso(step.finished_us)}; exec ${exec.exec_id} (worker pid ${exec.worker_pid}, run attempt ${exec.run_attempt}) started its body ${(Number(BigInt(exec.started_us) - finishedUs) / 1000).toFixed(1)} ms later, at ${usIso(exec.started_us)}`,
        });
      }
    }
    const want = expectedStepOutputs(step.run_id, Number(step.step_id.slice(1)) + 1).at(-1)?.digest;
    const source = execs.find(
      (e) => e.body_finished_us !== null && BigInt(e.body_finished_us) <= finishedUs && e.output_digest === want,
    );
    if (!source) {
      violations.add({
        invariant: 'completion-without-execution',
        runId: step.run_id,
        detail: `step ${step.step_id} completed at ${usIso(step.finished_us)} but no body execution had finished by then with that output (executions: ${
          execs
            .map(
              (e) =>
                `${e.exec_id} started ${usIso(e.started_us)} finished ${e.body_finished_us ? usIso(e.body_finished_us) : 'never'}`,
            )
            .join('; ') || 'none'
        })`,
      });
    }
  }

  // false-staleness: a live worker marked OFFLINE is excused only by a fault at least as long as the stale threshold.
  for (const event of input.offlineWhileAlive) {
    const excuse = input.faults.find(
      (f) =>
        f.endedAt - f.startedAt >= input.staleThresholdMs &&
        f.startedAt <= event.at &&
        event.at <= f.endedAt + input.staleThresholdMs + 5_000,
    );
    if (excuse) continue;
    const before = input.faults.filter((f) => f.startedAt <= event.at).at(-1);
    const context = before
      ? `the last fault before it was ${before.kind} ${before.target}, ${((before.endedAt - before.startedAt) / 1000).toFixed(1)} s long (stale threshold ${(input.staleThresholdMs / 1000).toFixed(1)} s), over ${((event.at - before.endedAt) / 1000).toFixed(1)} s earlier`
      : 'no fault had happened yet';
    violations.add({
      invariant: 'false-staleness',
      detail: `worker ${event.workerId} (${event.hostname} pid ${event.pid}) was marked OFFLINE at ${iso(event.at)} while its process was alive; ${context}`,
    });
  }

  let stepsReExecuted = 0;
  let maxExecutionsOfOneStep = 0;
  for (const execs of execsByStep.values()) {
    if (execs.length > 1) stepsReExecuted++;
    maxExecutionsOfOneStep = Math.max(maxExecutionsOfOneStep, execs.length);
  }
  const completions = steps
    .filter((s) => s.status === 'COMPLETED' && s.finished_us)
    .map((s) => usToMs(s.finished_us!))
    .sort((a, b) => a - b);
  return {
    runsInDatabase: runs.length,
    byStatus,
    duplicateStarts: [...perIndex.values()].reduce((sum, n) => sum + (n - 1), 0),
    stepExecutions: ledger.length,
    stepsReExecuted,
    maxExecutionsOfOneStep,
    attemptHistogram,
    recoveriesTotal: hasRecoveries ? recoveriesTotal : null,
    claimsTotal,
    completions,
  };
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

function relative(ms: number, now: number): string {
  const delta = ms - now;
  return delta >= 0 ? `in ${(delta / 1000).toFixed(1)} s` : `${(-delta / 1000).toFixed(1)} s ago`;
}
