import type { ChaosReport } from './runner';
import { INVARIANTS } from './violations';
import type { Invariant, Violation } from './violations';

const s = (ms: number | undefined | null) => (ms === undefined || ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Violations grouped by invariant, each with its evidence; at most `limit` lines per invariant. */
export function formatViolations(violations: Violation[], limit = 25): string {
  const lines: string[] = [];
  for (const invariant of Object.keys(INVARIANTS) as Invariant[]) {
    const list = violations.filter((v) => v.invariant === invariant);
    if (list.length === 0) continue;
    lines.push(`${invariant} (${list.length}): ${INVARIANTS[invariant]}`);
    for (const v of list.slice(0, limit)) lines.push(`  - ${v.runId ? `run ${v.runId}: ` : ''}${v.detail}`);
    if (list.length > limit) lines.push(`  … and ${list.length - limit} more (report.json has them all)`);
  }
  return lines.join('\n');
}

/** The human summary a chaos run prints: faults and recovery times, worker kills, timeline, invariants. */
export function formatReport(report: ChaosReport): string {
  const { profile, stats } = report;
  const out: string[] = [];
  out.push(
    `== chaos ${profile.name} · seed ${report.seed} · ${profile.runs} runs × ${profile.steps} steps · ${profile.workers} workers · ` +
      `database: ${report.database === 'private' ? 'private cluster (real restarts)' : 'clone on the shared server (outages)'} · ${s(report.durationMs)} ==`,
  );
  if (report.databaseNote) out.push(`note: ${report.databaseNote}`);
  const t0 = report.windowStartedAt;

  out.push(
    '',
    'Faults (times from the fault: "over" = service healthy again / database or NATS back; "throughput" = first step completed after that; "stall" = longest gap without a completed step around it)',
  );
  out.push(
    table(
      ['at', 'fault', 'target', 'length', 'over', 'throughput', 'stall', 'note'],
      report.faults.map((f) => [
        `+${s(f.startedAt - t0)}`,
        f.kind,
        f.target,
        f.durationMs ? s(f.durationMs) : f.shutdownMs !== undefined ? `term ${s(f.shutdownMs)}` : '',
        s(f.endedAt - f.startedAt),
        s(f.resumedAfterMs),
        s(f.stallMs),
        f.note ?? '',
      ]),
    ),
  );

  const reclaim: number[] = [];
  const slowest: Array<{ runId: string; ms: number | null; kill: (typeof report.workerKills)[number] }> = [];
  let finishedWithoutClaim = 0;
  let notReclaimed = 0;
  let orphans = 0;
  for (const kill of report.workerKills) {
    for (const [runId, orphan] of kill.tracking?.orphans ?? []) {
      orphans++;
      if (orphan.reclaimedAt === undefined) {
        notReclaimed++;
        slowest.push({ runId, ms: null, kill });
      } else if (orphan.finishedWithoutClaim) finishedWithoutClaim++;
      else {
        reclaim.push(orphan.reclaimedAt - kill.at);
        slowest.push({ runId, ms: orphan.reclaimedAt - kill.at, kill });
      }
    }
  }
  reclaim.sort((a, b) => a - b);
  slowest.sort((a, b) => (b.ms ?? Infinity) - (a.ms ?? Infinity));
  out.push(
    '',
    `Worker SIGKILLs: ${report.workerKills.length}, holding ${orphans} RUNNING runs` +
      (report.workerKills.some((k) => k.orphans === null)
        ? ` (${report.workerKills.filter((k) => k.orphans === null).length} kills during a database fault: not counted)`
        : '') +
      `; re-claimed by another worker after p50 ${s(percentile(reclaim, 50))}, p95 ${s(percentile(reclaim, 95))}, max ${s(reclaim.at(-1))}` +
      (finishedWithoutClaim ? `; ${finishedWithoutClaim} finished by the killed worker's last call` : '') +
      (notReclaimed ? `; ${notReclaimed} NEVER re-claimed` : ''),
  );
  if (slowest.length > 0) {
    out.push(
      `  slowest: ${slowest
        .slice(0, 5)
        .map(
          (o) =>
            `run ${o.runId} (worker-${o.kill.slot} pid ${o.kill.pid} killed at +${s(o.kill.at - t0)}) ${o.ms === null ? 'never' : s(o.ms)}`,
        )
        .join('; ')}`,
    );
  }

  if (stats) {
    const bucketMs = profile.chaosWindowMs > 120_000 ? 15_000 : 5_000;
    const end = stats.completions.at(-1) ?? t0;
    const buckets = Math.max(1, Math.ceil((end - t0) / bucketMs));
    const counts = new Array<number>(buckets).fill(0);
    for (const t of stats.completions) if (t >= t0) counts[Math.min(buckets - 1, Math.floor((t - t0) / bucketMs))]!++;
    const max = Math.max(1, ...counts);
    out.push('', `Steps completed per ${bucketMs / 1000} s (faults started in that slice)`);
    counts.forEach((n, i) => {
      const from = t0 + i * bucketMs;
      const marks = report.faults
        .filter((f) => f.startedAt >= from && f.startedAt < from + bucketMs)
        .map((f) => `${f.kind}:${f.target}`);
      const kills = report.workerKills.filter((k) => k.at >= from && k.at < from + bucketMs).length;
      if (kills) marks.push(`${kills}× worker-kill`);
      out.push(
        `  +${String(Math.round((i * bucketMs) / 1000)).padStart(4)}s ${String(n).padStart(5)} ${'#'.repeat(Math.round((n / max) * 40)).padEnd(40)} ${marks.join(', ')}`,
      );
    });
    out.push(
      '',
      `Runs: ${stats.runsInDatabase} in the database (${Object.entries(stats.byStatus)
        .map(([k, v]) => `${k} ${v}`)
        .join(
          ', ',
        )}); settled ${report.settledAfterMs === null ? 'NOT within the deadline' : `${s(report.settledAfterMs)} after the chaos window`}`,
      `Attempts: ${Object.entries(stats.attemptHistogram)
        .map(([k, v]) => `attempt ${k}: ${v}`)
        .join(', ')}; recoveries ${stats.recoveriesTotal ?? '(no recoveries column)'}; claims ${stats.claimsTotal}`,
      `Step bodies: ${stats.stepExecutions} executions for ${profile.runs * profile.steps} steps; ${stats.stepsReExecuted} steps ran more than once (max ${stats.maxExecutionsOfOneStep}); duplicate starts ${stats.duplicateStarts}; start retries ${report.startRetries}`,
    );
  }
  out.push(
    `Monitor: ${report.snapshots} snapshots compared, ${report.skippedMonitorBeats} beats skipped during faults; unplanned exits: ${
      report.unplannedExits.length
        ? report.unplannedExits
            .map((e) => `${e.name} +${s(e.at - t0)} (code ${e.code}, ${e.signal ?? 'no signal'})`)
            .join('; ')
        : 'none'
    }`,
  );

  out.push('', 'Invariants');
  out.push(
    table(
      ['invariant', 'violations', 'meaning'],
      (Object.keys(INVARIANTS) as Invariant[]).map((k) => [
        k,
        String(report.violations.filter((v) => v.invariant === k).length),
        INVARIANTS[k],
      ]),
    ),
  );
  if (report.violations.length > 0) {
    out.push(
      '',
      `VIOLATIONS (${report.violations.length}); logs and report.json in ${report.runDir}`,
      formatViolations(report.violations),
    );
  } else {
    out.push('', 'PASS: every invariant held');
  }
  return out.join('\n');
}
