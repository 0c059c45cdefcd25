// Baton adapter for the peers harness, split deployment: the four apps (frontend, matching, scheduler,
// watchdog) run as four child processes, each `node apps/<app>/dist/main.js` as in infra/compose, talking
// over NATS (loopback) with a subject prefix unique to the run. Client and worker are the SDK
// (`libs/sdk/dist`) in the runner process, over gRPC on loopback, exactly as in adapters/baton.mjs.
// Copy this file to <peers copy>/adapters/baton-split.mjs (see bench/peers/README.md in the Baton repo).
// The checkout is found through env BATON_MAIN (built: `pnpm install && pnpm build`).
//
// Start order: frontend first (it applies the migrations at start, BATON_RUN_MIGRATIONS defaults to true,
// guarded by an advisory lock), then matching, scheduler and watchdog once the frontend's /readyz answers;
// the run starts when all four answer /readyz on their own ports.
//
// CPU: run.mjs reads one server pid (`serverPid()`), called at the start and at the end of the measured
// window. Here it returns null, so run.mjs's window_cpu.server_* stay empty rather than showing one of
// four processes (its foreign_core_pct therefore includes the four services and nats-server); each call
// samples the four processes instead and `engine_stats.window_cpu` holds their sum over the same window,
// per service, and nats-server's CPU (shared with anything else using that NATS).
//
// Env: BATON_NATS_URL (default nats://127.0.0.1:4222; loopback only)
//      BATON_SPLIT_HTTP_PORT (29080) / BATON_SPLIT_GRPC_PORT (26051) / BATON_SPLIT_HEALTH_PORT_BASE (29081,
//      3 ports: matching, scheduler, watchdog)
//      BATON_SERVER_ENV="BATON_X=v,BATON_Y=w" -> extra settings for all four services (only BATON_* keys)
//      BATON_LOG_SQL=1 -> ALTER DATABASE ... SET log_min_duration_statement=0 (SQL counting)
// Server settings are Baton's production defaults; only addresses/ports/prefix/log level are set.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

export const meta = {
  name: 'baton-split',
  storage: 'postgres',
  packages: ['@baton/sdk (workspace, BATON_MAIN)'],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const APPS = ['frontend', 'matching', 'scheduler', 'watchdog'];

// utime + stime of one process in ticks (USER_HZ = 100), or null once it is gone.
function procCpuTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return null;
  }
}

// CPU ticks of every nats-server process (the bus is a separate server these services depend on).
function natsTicks() {
  let t = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')) !== 'nats-server') continue;
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      t += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return t;
}

// VmRSS / VmHWM of one process in kB.
function procMemKb(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1]) || null;
    return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM') };
  } catch {
    return null;
  }
}

async function answers(url) {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return r.status;
  } catch {
    return null;
  }
}

export async function create(ctx) {
  const { hooks, steps, sleepMs, concurrency } = ctx;
  const main = process.env.BATON_MAIN;
  const scripts = Object.fromEntries(APPS.map((a) => [a, path.join(main || '', `apps/${a}/dist/main.js`)]));
  if (!main || APPS.some((a) => !existsSync(scripts[a]))) {
    throw new Error(
      'set BATON_MAIN to a built Baton checkout (apps/{frontend,matching,scheduler,watchdog}/dist/main.js)',
    );
  }
  const req = createRequire(path.join(main, 'libs/sdk/package.json'));
  const sdk = req(path.join(main, 'libs/sdk/dist/index.js'));
  const { Client, Worker } = sdk;

  const host = '127.0.0.1';
  const httpPort = Number(process.env.BATON_SPLIT_HTTP_PORT || 29080);
  const grpcPort = Number(process.env.BATON_SPLIT_GRPC_PORT || 26051);
  const healthBase = Number(process.env.BATON_SPLIT_HEALTH_PORT_BASE || 29081);
  // Port each service serves /readyz on (the frontend: its API port).
  const readyPort = { frontend: httpPort, matching: healthBase, scheduler: healthBase + 1, watchdog: healthBase + 2 };
  // Unique per run (the database name is): concurrent users of the shared NATS never see these subjects.
  const prefix = `peers.${ctx.dbName}`;
  const natsUrl = process.env.BATON_NATS_URL || 'nats://127.0.0.1:4222';
  if (!/^nats:\/\/(127\.\d+\.\d+\.\d+|localhost):\d+$/.test(natsUrl)) throw new Error('NATS must be loopback');
  const queue = 'bench';
  const address = `${host}:${grpcPort}`;

  const batonVersion = (() => {
    try {
      return JSON.parse(readFileSync(path.join(main, 'libs/sdk/package.json'), 'utf8')).version;
    } catch {
      return '?';
    }
  })();

  const procs = {}; // app -> { child, exit: Promise, err: string }
  let stopping = false;
  let worker = null;
  let client = null;
  let sql = null;
  const stats = {};
  const extraEnv = {};
  const marks = []; // CPU samples taken when run.mjs asks for serverPid() (window start and end)

  const workflows = {
    one: async (wctx, { id, x }) => {
      const r = await wctx.step('inc', () => x + 1);
      hooks.done(id, r);
      return r;
    },
    ten: async (wctx, { id, x }) => {
      let v = x;
      for (let k = 0; k < steps; k++) {
        const cur = v;
        v = await wctx.step(`inc${k}`, () => cur + 1);
      }
      hooks.done(id, v);
      return v;
    },
    sleep: async (wctx, { id, x }) => {
      const t0 = await wctx.step('t0', () => Date.now());
      await wctx.sleep('nap', sleepMs);
      hooks.woke(id, t0 + sleepMs);
      hooks.done(id, x + 1);
      return x + 1;
    },
  };

  const alive = (p) => p && p.child.exitCode === null && p.child.signalCode === null;
  const killAll = () => {
    for (const p of Object.values(procs)) {
      if (alive(p)) {
        try {
          p.child.kill('SIGKILL');
        } catch {}
      }
    }
  };
  process.on('exit', killAll);

  function serviceEnv() {
    const env = { ...process.env };
    for (const k of Object.keys(env))
      if (k.startsWith('BATON_') || k === 'NATS_URL' || k === 'DATABASE_URL') delete env[k];
    Object.assign(env, {
      DATABASE_URL: ctx.pgUrl,
      NATS_URL: natsUrl,
      BATON_HOST: host,
      // Loopback benchmark: the same open mode as the all-in-one's `pnpm start`.
      BATON_AUTH: 'off',
      BATON_HTTP_PORT: String(httpPort),
      BATON_GRPC_PORT: String(grpcPort),
      BATON_MATCHING_HEALTH_PORT: String(readyPort.matching),
      BATON_SCHEDULER_HEALTH_PORT: String(readyPort.scheduler),
      BATON_WATCHDOG_HEALTH_PORT: String(readyPort.watchdog),
      BATON_SUBJECT_PREFIX: prefix,
      BATON_LOG_LEVEL: 'warn',
      BATON_DATA_DIR: path.join(ctx.tmpDir, 'baton-data'),
      NODE_ENV: 'production',
    });
    for (const kv of (process.env.BATON_SERVER_ENV || '').split(',').filter(Boolean)) {
      const [k, ...v] = kv.split('=');
      if (!/^BATON_[A-Z_]+$/.test(k) || /PORT|HOST|PREFIX/.test(k)) throw new Error(`BATON_SERVER_ENV: refusing ${k}`);
      env[k] = v.join('=');
      extraEnv[k] = env[k];
    }
    return env;
  }

  function startService(app, env) {
    const child = spawn(process.execPath, [scripts[app]], { cwd: main, env, stdio: ['ignore', 'inherit', 'pipe'] });
    const p = { child, err: '' };
    child.stderr.on('data', (d) => {
      p.err = (p.err + d).slice(-4000);
      process.stderr.write(d);
    });
    p.exit = new Promise((res) => child.once('exit', (code, sig) => res({ code, sig })));
    // A service dying mid-run would otherwise only show up as the run's timeout.
    void p.exit.then(({ code, sig }) => {
      if (!stopping) ctx.log(`baton ${app} exited unexpectedly (code ${code}, signal ${sig})`);
    });
    procs[app] = p;
    return p;
  }

  // Ready when /readyz on the service's own port answers 200 (bounded: 90 s).
  async function waitReady(app) {
    const p = procs[app];
    const deadline = Date.now() + 90000;
    for (;;) {
      if (!alive(p)) throw new Error(`baton ${app} exited during start (${p.child.exitCode}): ${p.err}`);
      if ((await answers(`http://${host}:${readyPort[app]}/readyz`)) === 200) return;
      if (Date.now() > deadline) throw new Error(`baton ${app} not ready within 90 s: ${p.err}`);
      await sleep(200);
    }
  }

  function sampleCpu() {
    const per = Object.fromEntries(APPS.map((a) => [a, procs[a] ? procCpuTicks(procs[a].child.pid) : null]));
    return { t: Date.now(), per, nats: natsTicks() };
  }

  // Window CPU from the first and the latest sample: % of one core and seconds, like run.mjs's window_cpu.
  function windowCpu(a, b) {
    const s = Math.max((b.t - a.t) / 1000, 0.001);
    const pct = (ticks) => Math.round((ticks / 100 / s) * 100);
    const per = {};
    let sum = 0;
    for (const app of APPS) {
      const d = a.per[app] !== null && b.per[app] !== null ? b.per[app] - a.per[app] : null;
      per[app] = d === null ? null : pct(d);
      sum += d ?? 0;
    }
    return {
      wall_s: Math.round(s * 100) / 100,
      server_core_pct: pct(sum),
      server_cpu_s: sum / 100,
      per_service_core_pct: per,
      nats_core_pct: pct(b.nats - a.nats),
      nats_cpu_s: (b.nats - a.nats) / 100,
    };
  }

  return {
    versions: {
      baton: batonVersion,
      '@grpc/grpc-js': (() => {
        try {
          return req('@grpc/grpc-js/package.json').version;
        } catch {
          return '?';
        }
      })(),
    },
    settings: {
      shape:
        'split: frontend, matching, scheduler, watchdog as four child processes + SDK client/worker in the runner process',
      bus: `NATS ${natsUrl} (subject prefix unique per run)`,
      worker: `maxConcurrent=${concurrency}, maxConcurrentPolls=default (min(maxConcurrent,10))`,
      server:
        'production defaults (BATON_DB_POOL_SIZE=10 for frontend and matching, 4 for scheduler and watchdog; watchdog/matching fallback 1s)',
      cpu: 'window_cpu.server_* empty; engine_stats.window_cpu = sum of the four services (+ nats-server apart)',
      server_env: extraEnv,
    },
    stats,
    serverPid: () => {
      if (!procs.frontend) return null;
      marks.push(sampleCpu());
      if (marks.length >= 2) stats.window_cpu = windowCpu(marks[0], marks[marks.length - 1]);
      return null;
    },
    async setup() {
      if (process.env.BATON_LOG_SQL === '1') {
        const a = new pg.Client({ connectionString: ctx.pgUrl });
        await a.connect();
        await a.query(`ALTER DATABASE ${ctx.dbName} SET log_min_duration_statement = 0`);
        await a.end();
      }
      // A leftover server on one of these ports would answer /readyz for us and take the run's traffic.
      for (const app of APPS) {
        if ((await answers(`http://${host}:${readyPort[app]}/healthz`)) !== null) {
          throw new Error(`port ${readyPort[app]} (${app}) already answers HTTP: a leftover server?`);
        }
      }
      const env = serviceEnv();
      startService('frontend', env);
      await waitReady('frontend');
      const rest = APPS.slice(1);
      for (const app of rest) startService(app, env);
      await Promise.all(rest.map(waitReady));
      client = new Client({ address });
      sql = new pg.Client({ connectionString: ctx.pgUrl });
      await sql.connect();
    },
    async startWorker() {
      worker = new Worker({
        address,
        queue,
        maxConcurrent: concurrency,
        onError: (e) => ctx.log('worker error', e?.message || e),
      });
      for (const k of ctx.kinds) worker.register(k, workflows[k]);
      await worker.start();
    },
    async enqueue(kind, id, x) {
      await client.start(kind, { id, x }, { queue, externalId: id });
    },
    async call(kind, id, x) {
      const run = await client.start(kind, { id, x }, { queue, externalId: id });
      return await client.result(run.id);
    },
    async confirm(kind, expected, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = await sql.query(
          `SELECT count(*)::int AS c FROM workflow_runs WHERE workflow_type = $1 AND status = 'COMPLETED'`,
          [kind],
        );
        const c = r.rows[0].c;
        if (c >= expected || Date.now() > deadline) return c;
        await sleep(100);
      }
    },
    async teardown() {
      if (worker) await Promise.race([worker.stop(), sleep(15000)]).catch(() => {});
      worker = null;
      if (sql) await sql.end().catch(() => {});
      sql = null;
      stopping = true;
      const running = APPS.filter((a) => alive(procs[a]));
      if (running.length) {
        const end = sampleCpu();
        stats.server_cpu_total_ms = Object.fromEntries(running.map((a) => [a, (end.per[a] ?? 0) * 10]));
        stats.server_cpu_total_ms.sum = Object.values(stats.server_cpu_total_ms).reduce((x, y) => x + y, 0);
        stats.memory_at_end = Object.fromEntries(running.map((a) => [a, procMemKb(procs[a].child.pid)]));
      }
      // Reverse start order, as the all-in-one launcher closes its apps; each bounded.
      for (const app of [...running].reverse()) {
        const p = procs[app];
        p.child.kill('SIGTERM');
        const r = await Promise.race([p.exit, sleep(20000).then(() => null)]);
        if (!r) {
          ctx.log(`baton ${app} did not stop in 20 s; SIGKILL`);
          try {
            p.child.kill('SIGKILL');
          } catch {}
          await Promise.race([p.exit, sleep(5000)]);
        }
      }
    },
  };
}
