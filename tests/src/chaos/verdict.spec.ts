import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDatabase } from './infra';
import type { ChaosDatabase } from './infra';
import { Monitor } from './monitor';
import { Observer } from './observer';
import { verify } from './verify';
import { Violations } from './violations';
import type { Invariant } from './violations';
import { expectedRunOutput, expectedStepOutputs, stepId } from './workflow';

/**
 * The chaos verdict must be able to fail: a database holding one specimen of
 * every violation (written by hand, no services) must be reported invariant
 * by invariant, with the right run, and a clean run must not be reported.
 */
describe('chaos verdict', () => {
  let db: ChaosDatabase;
  let observer: Observer;
  let runDir: string;
  const prefix = 'chaos-verdict-';
  const STEPS = 2;

  beforeAll(async () => {
    runDir = mkdtempSync(join(tmpdir(), 'baton-chaos-verdict-'));
    db = await createDatabase('shared', randomBytes(4).toString('hex'), runDir);
    observer = new Observer(db.url);
  });

  afterAll(async () => {
    await observer?.close();
    await db?.dispose();
    rmSync(runDir, { recursive: true, force: true });
  });

  const json = (value: unknown) => Buffer.from(JSON.stringify(value));

  /** A run as the chaos workflow leaves it; `tweak` spoils one aspect of it. */
  async function run(
    index: number,
    status: string,
    tweak: {
      output?: unknown;
      attempt?: number;
      stepAttempt?: number;
      withoutLedger?: boolean;
      bodyStartsLateMs?: number;
    } = {},
  ): Promise<string> {
    const id = randomUUID();
    const done = status === 'COMPLETED';
    await observer.rows(
      `INSERT INTO workflow_runs (id, namespace, task_queue, workflow_type, status, external_id, attempt, finished_at)
       VALUES ($1, 'default', 'verdict', 'chaos', $2, $3, $4, CASE WHEN $2 IN ('COMPLETED','FAILED') THEN now() END)`,
      [id, status, `${prefix}${index}`, tweak.attempt ?? 1],
    );
    await observer.rows(`INSERT INTO workflow_payloads (run_id, output, output_encoding) VALUES ($1, $2, 'json')`, [
      id,
      done ? json(tweak.output ?? expectedRunOutput(id, { index, steps: STEPS })) : null,
    ]);
    const outputs = expectedStepOutputs(id, STEPS);
    for (let k = 0; k < (done ? STEPS : 1); k++) {
      const finished = new Date(Date.now() - 10_000 + k * 1_000);
      await observer.rows(
        `INSERT INTO step_runs (run_id, step_id, seq, kind, status, attempt, output, output_encoding, finished_at)
         VALUES ($1, $2, $3, 'FUNCTION', 'COMPLETED', $4, $5, 'json', $6)`,
        [id, stepId(k), k, k === 0 ? (tweak.stepAttempt ?? 1) : 1, json(outputs[k]), finished],
      );
      if (tweak.withoutLedger && k === 0) continue;
      const started = new Date(finished.getTime() - 500 + (k === 1 ? (tweak.bodyStartsLateMs ?? 0) : 0));
      await observer.rows(
        `INSERT INTO chaos_ledger (exec_id, run_id, step_id, run_attempt, worker_pid, started_at, body_finished_at, output_digest)
         VALUES ($1, $2, $3, 1, 4242, $4, $5, $6)`,
        [randomUUID(), id, stepId(k), started, new Date(started.getTime() + 100), outputs[k]!.digest],
      );
    }
    return id;
  }

  test('chaos_verdict_reports_every_invariant_with_its_run', async () => {
    const clean = await run(0, 'COMPLETED');
    const failed = await run(1, 'FAILED');
    const stuck = await run(2, 'RUNNING');
    const wrong = await run(3, 'COMPLETED', { output: { index: 3, steps: STEPS, digest: 'forged' } });
    const late = await run(4, 'COMPLETED', { bodyStartsLateMs: 2_000 });
    const phantom = await run(5, 'COMPLETED', { withoutLedger: true });
    const charged = await run(6, 'COMPLETED', { stepAttempt: 2 });
    const changed = await run(7, 'COMPLETED');
    const missing = randomUUID();

    const violations = new Violations();
    const monitor = new Monitor(observer, violations, () => new Set([4242]));
    await monitor.snapshot();
    // After the first snapshot: one stored output changes, one completion is recorded again.
    await observer.rows(`UPDATE step_runs SET output = $2 WHERE run_id = $1 AND step_id = 's0'`, [
      changed,
      json({ step: 0, digest: 'rewritten' }),
    ]);
    await observer.rows(
      `UPDATE step_runs SET finished_at = finished_at + interval '1 millisecond' WHERE run_id = $1 AND step_id = 's1'`,
      [changed],
    );
    await monitor.snapshot();

    const accepted = new Map<number, string>(
      [clean, failed, stuck, wrong, late, phantom, charged, changed, missing].map((id, index) => [index, id]),
    );
    await verify({
      observer,
      violations,
      accepted,
      neverAccepted: [42],
      externalPrefix: prefix,
      steps: STEPS,
      faults: [],
      offlineWhileAlive: [{ workerId: randomUUID(), hostname: 'chaos-verdict-w0', pid: 4242, at: Date.now() }],
      staleThresholdMs: 6_000,
      livePids: new Set([4242]),
    });

    const runsOf = (invariant: Invariant) =>
      violations.list.filter((v) => v.invariant === invariant).map((v) => v.runId ?? '-');
    expect(runsOf('lost').sort()).toEqual([missing, '-'].sort());
    expect(runsOf('stuck')).toEqual([stuck]);
    expect(runsOf('failed')).toEqual([failed]);
    expect(runsOf('wrong-output')).toEqual(expect.arrayContaining([wrong, changed]));
    expect(runsOf('body-after-completion')).toEqual([late]);
    expect(runsOf('completion-without-execution')).toEqual(expect.arrayContaining([phantom]));
    expect(runsOf('retry-spent')).toEqual([charged]);
    expect(runsOf('output-changed')).toEqual([changed]);
    expect(runsOf('duplicate-completion')).toEqual([changed]);
    expect(runsOf('false-staleness')).toEqual(['-']);
    // The clean run is in no violation at all.
    expect(violations.list.filter((v) => v.runId === clean)).toEqual([]);
  });
});
