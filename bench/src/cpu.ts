import { readFileSync, readdirSync } from 'node:fs';
import type { Pool } from 'pg';

/*
 * CPU accounting over a measured window, as the peers harness does it
 * (../shared/peers/lib/cpu.mjs): this process's own CPU (client, worker and
 * the four apps all run here) plus PostgreSQL's, read from /proc; the
 * nats-server the apps talk through is reported apart.
 * PostgreSQL is shared with whatever else runs on the machine, so two figures
 * bound its part: `pgAll` (every `postgres` process, plus the postmaster's
 * reaped children) includes other databases' work, and `pgOwn` (only the
 * backends connected to the bench's database) leaves out the WAL writer,
 * checkpointer and backends that exited inside the window.
 */

/** Linux USER_HZ: /proc reports CPU in these ticks. */
const CLK_TCK = 100;

interface ProcStat {
  comm: string;
  ppid: number;
  ticks: number;
  reaped: number;
}

function procStat(pid: number | 'self'): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' '); // f[0] is field 3 (state)
    return {
      comm: s.slice(s.indexOf('(') + 1, close),
      ppid: Number(f[1]),
      ticks: Number(f[11]) + Number(f[12]),
      reaped: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return null; // the process ended between readdir and read
  }
}

interface ServerTicks {
  pgAll: number;
  pgByPid: Map<number, number>;
  nats: number;
}

function serverTicks(): ServerTicks {
  const t: ServerTicks = { pgAll: 0, pgByPid: new Map(), nats: 0 };
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = procStat(Number(entry));
    if (st?.comm === 'nats-server') t.nats += st.ticks;
    if (st?.comm !== 'postgres') continue;
    t.pgAll += st.ticks;
    t.pgByPid.set(Number(entry), st.ticks);
    // The postmaster (parent not postgres) has the CPU of backends that already exited.
    if (procStat(st.ppid)?.comm !== 'postgres') t.pgAll += st.reaped;
  }
  return t;
}

function machineBusyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return user + nice + system + irq + softirq + steal;
}

async function ownBackendPids(db: Pool): Promise<number[]> {
  const { rows } = await db.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  );
  return rows.map((r) => r.pid);
}

export interface CpuMark {
  at: number;
  self: NodeJS.CpuUsage;
  servers: ServerTicks;
  busy: number;
}

export interface CpuWindow {
  /** This process: client + worker + the in-process apps. */
  selfMs: number;
  pgAllMs: number;
  pgOwnMs: number;
  /** nats-server (the apps' bus here; shared with anything else using it). */
  natsMs: number;
  /** CPU of everything else on the machine during the window, in % of one core. */
  foreignCorePct: number;
}

export function cpuMark(): CpuMark {
  return { at: performance.now(), self: process.cpuUsage(), servers: serverTicks(), busy: machineBusyTicks() };
}

/** What was spent since `start`; `db` names the bench's database (its backends make up pgOwn). */
export async function cpuSince(start: CpuMark, db: Pool): Promise<CpuWindow> {
  const end = cpuMark();
  const pids = await ownBackendPids(db);
  const own = pids.reduce((sum, pid) => {
    const after = end.servers.pgByPid.get(pid);
    return after === undefined ? sum : sum + after - (start.servers.pgByPid.get(pid) ?? 0);
  }, 0);
  const self = process.cpuUsage(start.self);
  const selfMs = (self.user + self.system) / 1000;
  const tickMs = 1000 / CLK_TCK;
  const pgAllMs = (end.servers.pgAll - start.servers.pgAll) * tickMs;
  const natsMs = (end.servers.nats - start.servers.nats) * tickMs;
  const foreignMs = Math.max(0, (end.busy - start.busy) * tickMs - selfMs - pgAllMs - natsMs);
  return {
    selfMs,
    pgAllMs,
    pgOwnMs: own * tickMs,
    natsMs,
    foreignCorePct: (foreignMs / Math.max(1, end.at - start.at)) * 100,
  };
}
