import { createHash } from 'node:crypto';

/**
 * The chaos workflow, shared by the worker script (which runs it) and the
 * verifier (which recomputes what it must have produced). Every output is a
 * pure function of the run id and the step position, so a step that ran twice
 * would store the same bytes: a changed output or a changed completion time is
 * then the only trace a duplicate completion can leave, and the verifier looks
 * for exactly those.
 */
export const CHAOS_WORKFLOW_TYPE = 'chaos';

export interface ChaosInput {
  index: number;
  steps: number;
}

export interface StepOutput {
  step: number;
  digest: string;
}

export interface RunOutput {
  index: number;
  steps: number;
  digest: string;
}

export const stepId = (k: number): string => `s${k}`;

/** Each step folds the previous step's digest in, so the last digest vouches for the whole chain. */
export function stepDigest(runId: string, k: number, previous: string): string {
  return createHash('sha256')
    .update(`${runId}|${stepId(k)}|${previous}`)
    .digest('hex')
    .slice(0, 24);
}

export function expectedStepOutputs(runId: string, steps: number): StepOutput[] {
  const outputs: StepOutput[] = [];
  let previous = '';
  for (let k = 0; k < steps; k++) {
    previous = stepDigest(runId, k, previous);
    outputs.push({ step: k, digest: previous });
  }
  return outputs;
}

export function expectedRunOutput(runId: string, input: ChaosInput): RunOutput {
  const outputs = expectedStepOutputs(runId, input.steps);
  return { index: input.index, steps: input.steps, digest: outputs.at(-1)?.digest ?? '' };
}

/**
 * The ledger: one row per execution of a step body, written by the body
 * itself before it does anything else (started_at is the worker's clock at
 * body start, taken before the insert so a delayed insert cannot make a body
 * look later than it was) and completed just before the body returns. Test
 * scaffolding that lives in the chaos database only.
 */
export const LEDGER_DDL = `
  CREATE TABLE chaos_ledger (
    exec_id uuid PRIMARY KEY,
    run_id uuid NOT NULL,
    step_id text NOT NULL,
    run_attempt integer NOT NULL,
    worker_pid integer NOT NULL,
    started_at timestamptz NOT NULL,
    body_finished_at timestamptz,
    output_digest text,
    inserted_at timestamptz NOT NULL DEFAULT clock_timestamp()
  );
  CREATE INDEX chaos_ledger_step ON chaos_ledger (run_id, step_id);
`;

export const LEDGER_INSERT = `INSERT INTO chaos_ledger (exec_id, run_id, step_id, run_attempt, worker_pid, started_at)
  VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (exec_id) DO NOTHING`;

export const LEDGER_FINISH = `UPDATE chaos_ledger SET body_finished_at = $2, output_digest = $3 WHERE exec_id = $1`;
