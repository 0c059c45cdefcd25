import type { AppName } from '../harness/test-harness';
import { waitFor } from '../harness/wait';
import type { ChaosDatabase, NatsServer } from './infra';
import type { KillTracking } from './monitor';
import type { ChaosProfile } from './profiles';
import type { Supervised } from './processes';

export type FaultKind = 'service-kill' | 'service-term' | 'db-outage' | 'pg-restart' | 'nats-stop';

export interface PlannedFault {
  kind: FaultKind;
  target: string;
  /** Outage length (database, NATS); services come back as soon as they are respawned. */
  durationMs?: number;
  /** When to inject it, from the start of the chaos window. */
  atMs: number;
}

export interface FaultRecord extends PlannedFault {
  startedAt: number;
  /** When the fault was over: the service answers /healthz again, the database accepts connections, NATS listens. */
  endedAt: number;
  /** SIGTERM: how long the graceful shutdown took, and whether SIGKILL had to follow. */
  shutdownMs?: number;
  forced?: boolean;
  note?: string;
  /** From the start of the fault until throughput resumed: the first step completion recorded after the fault was over. */
  resumedAfterMs?: number;
  /** The longest stretch without any step completion from just before the fault until that first completion. */
  stallMs?: number;
}

export interface WorkerKillRecord {
  slot: number;
  pid: number | undefined;
  at: number;
  /** null: the runs it held could not be read (the database was down at that moment). */
  orphans: number | null;
  tracking?: KillTracking;
}

/** Seeded PRNG (mulberry32): a run's fault schedule is reproducible from the printed seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs are started over this fraction of the chaos window (the rest lets the last ones finish under faults). */
export const FEED_SPREAD = 0.9;

export const SERVICES: AppName[] = ['frontend', 'matching', 'scheduler', 'watchdog'];

/**
 * Every fault of the profile, shuffled, spread evenly over the chaos window
 * (with jitter) and run one after another, so each one's recovery can be told
 * apart. Worker SIGKILLs run on their own clock, on top of these.
 */
export function planFaults(profile: ChaosProfile, random: () => number, canRestartPostgres: boolean): PlannedFault[] {
  const faults: Array<Omit<PlannedFault, 'atMs'>> = [];
  for (const target of SERVICES) {
    for (let i = 0; i < profile.serviceKills; i++) faults.push({ kind: 'service-kill', target });
    for (let i = 0; i < profile.serviceTerms; i++) faults.push({ kind: 'service-term', target });
  }
  for (const durationMs of profile.dbOutagesMs) faults.push({ kind: 'db-outage', target: 'postgresql', durationMs });
  if (canRestartPostgres) {
    for (const durationMs of profile.pgRestartsMs)
      faults.push({ kind: 'pg-restart', target: 'postgresql', durationMs });
  }
  for (const durationMs of profile.natsStopsMs) faults.push({ kind: 'nats-stop', target: 'nats', durationMs });
  for (let i = faults.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [faults[i], faults[j]] = [faults[j]!, faults[i]!];
  }
  // Within the part of the window where runs are started, leaving its last slot quiet: every fault,
  // the last one included, meets runs started before it and runs started after it.
  const slot = (profile.chaosWindowMs * FEED_SPREAD) / (faults.length + 1);
  return faults.map((fault, i) => ({ ...fault, atMs: Math.round(slot * (i + 0.75) + random() * slot * 0.5) }));
}

export interface FaultTargets {
  services: Map<AppName, Supervised>;
  healthUrl: (app: AppName) => string;
  db: ChaosDatabase;
  nats: NatsServer;
  random: () => number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** Injects one fault and waits until it is over (the system itself may take longer to recover: that is measured later). */
export async function injectFault(fault: PlannedFault, t: FaultTargets): Promise<FaultRecord> {
  const startedAt = Date.now();
  const record: FaultRecord = { ...fault, startedAt, endedAt: startedAt };
  switch (fault.kind) {
    case 'service-kill':
    case 'service-term': {
      const app = fault.target as AppName;
      const service = t.services.get(app)!;
      const stopped = await service.kill(fault.kind === 'service-kill' ? 'SIGKILL' : 'SIGTERM');
      if (fault.kind === 'service-term') {
        record.shutdownMs = stopped.ms;
        record.forced = stopped.forced;
        if (stopped.forced) record.note = 'SIGTERM did not end it within 30 s: SIGKILLed';
      }
      // A rolling restart: the replacement comes up a moment later on the same ports.
      await sleep(200 + t.random() * 600);
      service.start();
      try {
        await waitFor(() => healthy(t.healthUrl(app)), `${app} to answer /healthz`, {
          timeoutMs: 60_000,
          intervalMs: 100,
        });
      } catch {
        record.note = `${record.note ? `${record.note}; ` : ''}not healthy 60 s after the restart`;
      }
      break;
    }
    case 'db-outage':
      await t.db.outage(fault.durationMs!);
      break;
    case 'pg-restart':
      await t.db.restart!(fault.durationMs!);
      break;
    case 'nats-stop':
      await t.nats.stop();
      await sleep(fault.durationMs!);
      await t.nats.start();
      break;
  }
  record.endedAt = Date.now();
  return record;
}

/** Fills resumedAfterMs and stallMs from the sorted completion times of every step. */
export function measureRecovery(faults: FaultRecord[], completions: number[]): void {
  for (const fault of faults) {
    const firstAfter = completions.find((t) => t >= fault.endedAt);
    if (firstAfter === undefined) continue;
    fault.resumedAfterMs = firstAfter - fault.startedAt;
    let previous = fault.startedAt;
    for (let i = completions.length - 1; i >= 0; i--) {
      if (completions[i]! < fault.startedAt) {
        previous = completions[i]!;
        break;
      }
    }
    let stall = 0;
    for (const t of completions) {
      if (t < fault.startedAt) continue;
      if (t > firstAfter) break;
      stall = Math.max(stall, t - previous);
      previous = t;
    }
    fault.stallMs = stall;
  }
}
