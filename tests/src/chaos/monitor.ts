import { TERMINAL_RUN_STATUSES, isTerminal } from '@baton/contracts';
import type { RunStatus } from '@baton/contracts';
import { micros } from './observer';
import type { Observer } from './observer';
import type { Violations } from './violations';

const TERMINAL = `(${TERMINAL_RUN_STATUSES.map((s) => `'${s}'`).join(',')})`;

interface StepSeen {
  output: string;
  finishedUs: string;
  attempt: number;
  seenAt: number;
}

interface RunSeen {
  status: string;
  finishedUs: string;
  output: string;
  seenAt: number;
}

/** A worker row that turned OFFLINE while its process was alive (the verdict decides whether a fault excuses it). */
export interface OfflineWhileAlive {
  workerId: string;
  hostname: string;
  pid: number;
  at: number;
}

/** Runs a worker held when it was SIGKILLed, and when each was claimed again. */
export interface KillTracking {
  orphans: Map<string, { epoch: number; reclaimedAt?: number; finishedWithoutClaim?: boolean }>;
  killedAt: number;
}

/**
 * Watches the chaos database while faults happen:
 * - snapshots every completed step and every terminal run, and reports any
 *   later read that differs (output, completion time, state) or misses one;
 * - follows the runs each killed worker held until they are claimed again;
 * - notes workers marked OFFLINE while their process is alive.
 * Every query may fail during a database fault: that beat is skipped.
 */
export class Monitor {
  private readonly steps = new Map<string, StepSeen>();
  private readonly runs = new Map<string, RunSeen>();
  private readonly kills: KillTracking[] = [];
  private readonly offlineSeen = new Set<string>();
  readonly offlineWhileAlive: OfflineWhileAlive[] = [];
  snapshots = 0;
  skippedBeats = 0;
  private timers: NodeJS.Timeout[] = [];
  private busy = { snapshot: false, track: false };

  constructor(
    private readonly observer: Observer,
    private readonly violations: Violations,
    /** pid → alive, for the worker processes of this run. */
    private readonly liveWorkerPids: () => Set<number>,
  ) {}

  start(snapshotEveryMs: number): void {
    this.timers.push(setInterval(() => void this.beat('snapshot', () => this.snapshot()), snapshotEveryMs));
    this.timers.push(setInterval(() => void this.beat('track', () => this.track()), 250));
  }

  stop(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
  }

  private async beat(kind: 'snapshot' | 'track', work: () => Promise<void>): Promise<void> {
    if (this.busy[kind]) return;
    this.busy[kind] = true;
    try {
      await work();
    } catch {
      this.skippedBeats++;
    } finally {
      this.busy[kind] = false;
    }
  }

  /** Starts following the runs a worker held at the moment it is killed. */
  trackKill(orphans: Array<{ id: string; lease_epoch: number }>, killedAt: number): KillTracking {
    const tracking: KillTracking = {
      killedAt,
      orphans: new Map(orphans.map((o) => [o.id, { epoch: Number(o.lease_epoch) }])),
    };
    this.kills.push(tracking);
    return tracking;
  }

  /** One full comparison pass (also run once more at the end, after the last fault). */
  async snapshot(): Promise<void> {
    const now = Date.now();
    const steps = await this.observer.rows<{
      run_id: string;
      step_id: string;
      attempt: number;
      output: string | null;
      finished_us: string | null;
    }>(
      `SELECT run_id::text AS run_id, step_id, attempt, encode(output, 'hex') AS output, ${micros('finished_at')} AS finished_us
         FROM step_runs WHERE status = 'COMPLETED' AND kind = 'FUNCTION'`,
    );
    const runs = await this.observer.rows<{
      id: string;
      status: string;
      finished_us: string | null;
      output: string | null;
    }>(
      `SELECT r.id::text AS id, r.status, ${micros('r.finished_at')} AS finished_us, encode(p.output, 'hex') AS output
         FROM workflow_runs r LEFT JOIN workflow_payloads p ON p.run_id = r.id WHERE r.status IN ${TERMINAL}`,
    );
    this.snapshots++;
    const stepKeys = new Set<string>();
    for (const row of steps) {
      const key = `${row.run_id}|${row.step_id}`;
      stepKeys.add(key);
      const now_ = { output: row.output ?? '', finishedUs: row.finished_us ?? '', attempt: row.attempt, seenAt: now };
      const before = this.steps.get(key);
      if (!before) {
        this.steps.set(key, now_);
        continue;
      }
      if (before.output !== now_.output) {
        this.violations.add(
          {
            invariant: 'output-changed',
            runId: row.run_id,
            detail: `step ${row.step_id}: output was ${hexText(before.output)} (seen ${iso(before.seenAt)}), now ${hexText(now_.output)} (seen ${iso(now)})`,
          },
          key,
        );
      }
      if (before.finishedUs !== now_.finishedUs || before.attempt !== now_.attempt) {
        this.violations.add(
          {
            invariant: 'duplicate-completion',
            runId: row.run_id,
            detail: `step ${row.step_id} completed again: finished_at ${usIso(before.finishedUs)} attempt ${before.attempt} → finished_at ${usIso(now_.finishedUs)} attempt ${now_.attempt}`,
          },
          key,
        );
      }
    }
    for (const [key, before] of this.steps) {
      if (stepKeys.has(key)) continue;
      const [runId, step] = key.split('|');
      this.violations.add(
        {
          invariant: 'output-changed',
          runId,
          detail: `step ${step} was COMPLETED (output ${hexText(before.output)}, seen ${iso(before.seenAt)}) and is no longer (read ${iso(now)})`,
        },
        `${key}|gone`,
      );
    }
    const runIds = new Set<string>();
    for (const row of runs) {
      runIds.add(row.id);
      const now_ = { status: row.status, finishedUs: row.finished_us ?? '', output: row.output ?? '', seenAt: now };
      const before = this.runs.get(row.id);
      if (!before) {
        this.runs.set(row.id, now_);
        continue;
      }
      if (before.status !== now_.status || before.finishedUs !== now_.finishedUs) {
        this.violations.add(
          {
            invariant: 'duplicate-completion',
            runId: row.id,
            detail: `terminal run changed: ${before.status} at ${usIso(before.finishedUs)} → ${now_.status} at ${usIso(now_.finishedUs)}`,
          },
          row.id,
        );
      }
      if (before.output !== now_.output) {
        this.violations.add(
          {
            invariant: 'output-changed',
            runId: row.id,
            detail: `run output was ${hexText(before.output)}, now ${hexText(now_.output)}`,
          },
          row.id,
        );
      }
    }
    for (const [id, before] of this.runs) {
      if (runIds.has(id)) continue;
      this.violations.add(
        {
          invariant: 'duplicate-completion',
          runId: id,
          detail: `run was ${before.status} (seen ${iso(before.seenAt)}) and is no longer terminal (read ${iso(now)})`,
        },
        `${id}|gone`,
      );
    }
  }

  private async track(): Promise<void> {
    const now = Date.now();
    const pending = new Map<string, Array<{ epoch: number; mark: (at: number, finished: boolean) => void }>>();
    for (const kill of this.kills) {
      for (const [id, orphan] of kill.orphans) {
        if (orphan.reclaimedAt !== undefined) continue;
        const list = pending.get(id) ?? [];
        list.push({
          epoch: orphan.epoch,
          mark: (at, finished) => {
            orphan.reclaimedAt = at;
            orphan.finishedWithoutClaim = finished;
          },
        });
        pending.set(id, list);
      }
    }
    if (pending.size > 0) {
      const rows = await this.observer.rows<{ id: string; status: string; lease_epoch: number }>(
        `SELECT id::text AS id, status, lease_epoch FROM workflow_runs WHERE id = ANY($1::uuid[])`,
        [[...pending.keys()]],
      );
      for (const row of rows) {
        for (const orphan of pending.get(row.id) ?? []) {
          if (Number(row.lease_epoch) > orphan.epoch) orphan.mark(now, false);
          else if (isTerminal(row.status as RunStatus)) orphan.mark(now, true);
        }
      }
    }
    const offline = await this.observer.rows<{ id: string; hostname: string; pid: number; at_ms: string }>(
      `SELECT id::text AS id, hostname, pid, (extract(epoch from updated_at) * 1000)::bigint::text AS at_ms
         FROM workers WHERE status = 'OFFLINE'`,
    );
    const alive = this.liveWorkerPids();
    for (const row of offline) {
      if (this.offlineSeen.has(row.id)) continue;
      this.offlineSeen.add(row.id);
      if (alive.has(Number(row.pid))) {
        this.offlineWhileAlive.push({
          workerId: row.id,
          hostname: row.hostname,
          pid: Number(row.pid),
          at: Number(row.at_ms),
        });
      }
    }
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();
/** A microsecond timestamp as ISO text with all six fractional digits. */
export const usIso = (us: string) => {
  if (!us) return '(none)';
  const value = BigInt(us);
  return new Date(Number(value / 1000n)).toISOString().replace('Z', `${String(value % 1000n).padStart(3, '0')}Z`);
};

function hexText(hex: string): string {
  if (!hex) return '(empty)';
  const text = Buffer.from(hex, 'hex').toString('utf8');
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
