import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TERMINAL_RUN_STATUSES, buildConfig } from '@baton/contracts';
import type { BatonConfig } from '@baton/contracts';
import { Client } from '@baton/sdk';
import { freePort } from '../harness/ports';
import { configToEnv } from '../harness/test-harness';
import type { AppName } from '../harness/test-harness';
import { waitFor } from '../harness/wait';
import { FEED_SPREAD, SERVICES, healthy, injectFault, measureRecovery, planFaults, seededRandom } from './faults';
import type { FaultRecord, PlannedFault, WorkerKillRecord } from './faults';
import { NatsServer, createDatabase, postgresBinDir } from './infra';
import type { ChaosDatabase } from './infra';
import { Monitor } from './monitor';
import { Observer } from './observer';
import { CHAOS_DIST, Supervised } from './processes';
import type { UnplannedExit } from './processes';
import type { ChaosProfile } from './profiles';
import { verify } from './verify';
import type { VerifyStats } from './verify';
import { Violations } from './violations';
import type { Violation } from './violations';
import { WORKER_ENV } from './worker';
import { CHAOS_WORKFLOW_TYPE } from './workflow';

export interface ChaosOptions {
  profile: ChaosProfile;
  /** Progress lines (the report itself is returned). */
  log?: (line: string) => void;
  /** Keep the database and the run directory (logs) even when every invariant held. */
  keep?: boolean;
}

export interface ChaosReport {
  profile: ChaosProfile;
  seed: number;
  id: string;
  runDir: string;
  database: 'shared' | 'private';
  databaseNote?: string;
  /** From the end of the chaos window until every run was terminal (null: not within the settle deadline). */
  settledAfterMs: number | null;
  durationMs: number;
  faults: FaultRecord[];
  workerKills: WorkerKillRecord[];
  unplannedExits: UnplannedExit[];
  startRetries: number;
  snapshots: number;
  skippedMonitorBeats: number;
  stats: VerifyStats | null;
  violations: Violation[];
  windowStartedAt: number;
  /** The last fault was over and the last run started: the settle deadline counts from here. */
  chaosEndedAt: number;
}

const TERMINAL = `(${TERMINAL_RUN_STATUSES.map((s) => `'${s}'`).join(',')})`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const appMain = (app: AppName) => join(__dirname, '..', '..', '..', 'apps', app, 'dist', 'main.js');

function healthPort(config: BatonConfig, app: AppName): number {
  switch (app) {
    case 'frontend':
      return config.httpPort;
    case 'matching':
      return config.matchingHealthPort;
    case 'scheduler':
      return config.schedulerHealthPort;
    case 'watchdog':
      return config.watchdogHealthPort;
  }
}

/**
 * One chaos run: a fresh database, a NATS server of its own, the four services
 * and the workers as child processes, a steady stream of runs while faults
 * are injected, then a wait for every run to finish and the verdict.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const profile = options.profile;
  const log = options.log ?? (() => undefined);
  const began = Date.now();
  const seed = profile.seed || Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const id = randomBytes(4).toString('hex');
  const runDir = mkdtempSync(join(tmpdir(), `baton-chaos-${id}-`));
  chmodSync(runDir, 0o755); // a private cluster runs as the postgres user and must reach its directory
  const violations = new Violations();
  const unplannedExits: UnplannedExit[] = [];
  const faults: FaultRecord[] = [];
  const workerKills: WorkerKillRecord[] = [];
  const services = new Map<AppName, Supervised>();
  const workers: Supervised[] = [];
  const killNow: Array<() => void> = [];
  const onExit = () => killNow.forEach((kill) => kill());
  process.once('exit', onExit);

  let database: 'shared' | 'private' = profile.database;
  let databaseNote: string | undefined;
  if (database === 'private' && !postgresBinDir()) {
    database = 'shared';
    databaseNote =
      'no PostgreSQL binaries for a private cluster: the database is a clone on the shared server, so the PostgreSQL restarts are skipped (the outages still run)';
  }
  log(`chaos ${profile.name}: seed ${seed}, id ${id}, logs in ${runDir}`);

  let db: (ChaosDatabase & { stopNow?: () => void }) | undefined;
  let nats: NatsServer | undefined;
  let observer: Observer | undefined;
  let client: Client | undefined;
  let monitor: Monitor | undefined;
  let report: ChaosReport | undefined;
  let chaosEndedAt: number;
  try {
    db = await createDatabase(database, id, runDir);
    if (db.stopNow) killNow.push(db.stopNow.bind(db));
    nats = await NatsServer.start(runDir);
    killNow.push(nats.killNow.bind(nats));
    log(`database ${db.name} (${db.kind}), NATS ${nats.url}`);

    const config = buildConfig({
      databaseUrl: db.url,
      natsUrl: nats.url,
      subjectPrefix: `chaos.${id}`,
      host: '127.0.0.1',
      httpPort: await freePort(),
      grpcPort: await freePort(),
      matchingHealthPort: await freePort(),
      schedulerHealthPort: await freePort(),
      watchdogHealthPort: await freePort(),
      ...profile.service,
      schedulerIntervalMs: 1_000,
      pollDeadlineMarginMs: 200,
      reconcileIntervalMs: 60_000,
      dbPoolSize: 6,
      runMigrations: false,
      logLevel: 'warn',
      // Loopback only: chaos is about faults, not callers.
      auth: 'off',
    });
    const env = configToEnv(config);
    const noteExit = (exit: UnplannedExit) => {
      unplannedExits.push(exit);
      log(`unplanned exit: ${exit.name} (code ${exit.code}, signal ${exit.signal}); respawning`);
    };
    for (const app of SERVICES) {
      const service = new Supervised(app, appMain(app), env, join(runDir, `${app}.log`), noteExit);
      services.set(app, service);
      killNow.push(() => service.killNow());
      service.start();
    }
    const healthUrl = (app: AppName) => `http://127.0.0.1:${healthPort(config, app)}/healthz`;
    for (const app of SERVICES) {
      await waitFor(() => healthy(healthUrl(app)), `${app} to start`, { timeoutMs: 60_000, intervalMs: 100 });
    }

    const queue = `chaos-${id}`;
    for (let slot = 0; slot < profile.workers; slot++) {
      const worker = new Supervised(
        `worker-${slot}`,
        join(CHAOS_DIST, 'worker.js'),
        {
          [WORKER_ENV.address]: `127.0.0.1:${config.grpcPort}`,
          [WORKER_ENV.database]: db.url,
          [WORKER_ENV.queue]: queue,
          [WORKER_ENV.hostname]: `chaos-${id}-w${slot}`,
          [WORKER_ENV.maxConcurrent]: String(profile.workerMaxConcurrent),
          [WORKER_ENV.stepMinMs]: String(profile.stepMinMs),
          [WORKER_ENV.stepMaxMs]: String(profile.stepMaxMs),
        },
        join(runDir, `worker-${slot}.log`),
        noteExit,
      );
      workers.push(worker);
      killNow.push(() => worker.killNow());
      worker.start();
    }
    observer = new Observer(db.url);
    const obs = observer;
    await waitFor(
      async () => {
        const [row] = await obs.rows<{ n: number }>(
          `SELECT count(*)::int AS n FROM workers WHERE task_queue = $1 AND status = 'ONLINE'`,
          [queue],
        );
        return row!.n >= profile.workers;
      },
      `${profile.workers} workers to register`,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    log(`services and ${profile.workers} workers up after ${((Date.now() - began) / 1000).toFixed(1)} s`);

    const livePids = () => new Set(workers.filter((w) => w.running).map((w) => w.pid!));
    monitor = new Monitor(observer, violations, livePids);
    monitor.start(profile.snapshotEveryMs);
    client = new Client({ address: `127.0.0.1:${config.grpcPort}` });
    const chaosClient = client;

    // ---- the chaos window: a steady stream of runs, faults one after another, worker kills on their own clock.
    const windowStartedAt = Date.now();
    const startDeadline = windowStartedAt + profile.chaosWindowMs * 1.35 + profile.settleDeadlineMs;
    const externalPrefix = `chaos-${id}-`;
    const accepted = new Map<number, string>();
    const neverAccepted: number[] = [];
    let startRetries = 0;
    const startOne = async (index: number) => {
      for (let failures = 0; ; failures++) {
        try {
          const started = await chaosClient.start(
            CHAOS_WORKFLOW_TYPE,
            { index, steps: profile.steps },
            { queue, externalId: `${externalPrefix}${index}` },
          );
          accepted.set(index, started.id);
          return;
        } catch {
          if (Date.now() > startDeadline) {
            neverAccepted.push(index);
            return;
          }
          startRetries++;
          await sleep(Math.min(2_000, 100 * 2 ** Math.min(failures, 4)));
        }
      }
    };
    // Service restarts take longer on a busy machine than planned: when the faults fall behind their
    // schedule, the stream of runs is held back by as much (up to a cap), so the last faults still
    // meet runs in flight instead of an idle system.
    let lagMs = 0;
    const maxLagMs = profile.chaosWindowMs * 0.35;
    let issuedAll = false;
    const feeding = (async () => {
      const pending: Promise<void>[] = [];
      const spread = profile.chaosWindowMs * FEED_SPREAD;
      for (let index = 0; index < profile.runs; index++) {
        for (;;) {
          const due = windowStartedAt + (index * spread) / profile.runs + lagMs;
          if (due <= Date.now()) break;
          await sleep(Math.min(250, due - Date.now()));
        }
        pending.push(startOne(index));
      }
      issuedAll = true;
      await Promise.all(pending);
    })();

    const plan: PlannedFault[] = planFaults(profile, random, db.kind === 'private' && !!db.restart);
    const targets = { services, healthUrl, db, nats, random };
    let faultsDone = false;
    const faulting = (async () => {
      let quietFrom = windowStartedAt;
      for (const fault of plan) {
        const planned = windowStartedAt + fault.atMs + lagMs;
        const due = Math.max(planned, quietFrom + profile.minFaultGapMs);
        lagMs = Math.min(maxLagMs, lagMs + (due - planned));
        if (due > Date.now()) await sleep(due - Date.now());
        log(`fault: ${fault.kind} ${fault.target}${fault.durationMs ? ` for ${fault.durationMs} ms` : ''}`);
        const record = await injectFault(fault, targets);
        faults.push(record);
        quietFrom = record.endedAt;
        if (record.note) log(`  ${record.note}`);
      }
      faultsDone = true;
    })();

    const killing = (async () => {
      // Worker kills go on until the last fault is over and the last run has been started.
      while (!(faultsDone && issuedAll)) {
        await sleep(profile.workerKillEveryMs * (0.5 + random()));
        if (faultsDone && issuedAll) return;
        const running = workers.map((w, slot) => ({ w, slot })).filter(({ w }) => w.running);
        if (running.length === 0) continue;
        const { w, slot } = running[Math.floor(random() * running.length)]!;
        const pid = w.pid;
        const orphans = await obs
          .rows<{ id: string; lease_epoch: number }>(
            `SELECT r.id::text AS id, r.lease_epoch FROM workflow_runs r JOIN workers k ON k.id = r.locked_by
              WHERE k.hostname = $1 AND k.pid = $2 AND r.status = 'RUNNING'`,
            [`chaos-${id}-w${slot}`, pid],
          )
          .catch(() => null);
        const at = Date.now();
        await w.kill('SIGKILL');
        const record: WorkerKillRecord = { slot, pid, at, orphans: orphans?.length ?? null };
        if (orphans && orphans.length > 0) record.tracking = monitor!.trackKill(orphans, at);
        workerKills.push(record);
        await sleep(200 + random() * 800);
        w.start();
      }
    })();

    const progress = setInterval(() => {
      void obs
        .rows<{ done: number; open: number }>(
          `SELECT count(*) FILTER (WHERE status IN ${TERMINAL})::int AS done,
                  count(*) FILTER (WHERE status NOT IN ${TERMINAL})::int AS open FROM workflow_runs`,
        )
        .then(([row]) =>
          log(
            `t+${Math.round((Date.now() - windowStartedAt) / 1000)}s: started ${accepted.size}/${profile.runs}, terminal ${row!.done}, open ${row!.open}, faults ${faults.length}/${plan.length}, worker kills ${workerKills.length}`,
          ),
        )
        .catch(() => log(`t+${Math.round((Date.now() - windowStartedAt) / 1000)}s: (database unreachable)`));
    }, 10_000);

    await Promise.all([faulting, killing]);
    const settleFrom = Date.now();
    chaosEndedAt = settleFrom;
    log(
      `chaos over after ${((settleFrom - windowStartedAt) / 1000).toFixed(1)} s (schedule ${lagMs > 0 ? `${(lagMs / 1000).toFixed(1)} s behind plan` : 'on time'})`,
    );
    let settledAfterMs: number | null = null;
    try {
      await feeding;
      await waitFor(
        async () => {
          if (accepted.size + neverAccepted.length < profile.runs) return false;
          const [row] = await obs.rows<{ n: number }>(
            `SELECT count(*)::int AS n FROM workflow_runs WHERE status NOT IN ${TERMINAL}`,
          );
          return row!.n === 0;
        },
        'every run to be terminal',
        { timeoutMs: Math.max(1_000, settleFrom + profile.settleDeadlineMs - Date.now()), intervalMs: 250 },
      );
      settledAfterMs = Date.now() - settleFrom;
      log(`all runs terminal ${(settledAfterMs / 1000).toFixed(1)} s after the chaos window`);
    } catch (err) {
      log(`not settled: ${(err as Error).message}`);
    }
    clearInterval(progress);
    monitor.stop();
    // One last comparison after the last fault (the monitor skips beats while the database is down).
    await waitFor(
      () =>
        monitor!.snapshot().then(
          () => true,
          () => false,
        ),
      'a final snapshot',
      { timeoutMs: 30_000, intervalMs: 500 },
    );

    const stats = await verify({
      observer,
      violations,
      accepted,
      neverAccepted,
      externalPrefix,
      steps: profile.steps,
      faults,
      offlineWhileAlive: monitor.offlineWhileAlive,
      staleThresholdMs: config.workerStaleThresholdMs,
      livePids: livePids(),
    });
    measureRecovery(faults, stats.completions);
    report = {
      profile: { ...profile, seed },
      seed,
      id,
      runDir,
      database: db.kind,
      ...(databaseNote ? { databaseNote } : {}),
      settledAfterMs,
      durationMs: Date.now() - began,
      faults,
      workerKills,
      unplannedExits,
      startRetries,
      snapshots: monitor.snapshots,
      skippedMonitorBeats: monitor.skippedBeats,
      stats,
      violations: violations.list,
      windowStartedAt,
      chaosEndedAt,
    };
    writeFileSync(
      join(runDir, 'report.json'),
      JSON.stringify(report, (key, value) => (key === 'tracking' ? undefined : value), 2),
    );
    return report;
  } finally {
    monitor?.stop();
    client?.close();
    await Promise.allSettled(workers.map((w) => w.retire('SIGTERM', 5_000)));
    await Promise.allSettled([...services.values()].map((s) => s.retire('SIGTERM', 10_000)));
    await observer?.close();
    await nats?.stop().catch(() => undefined);
    const keep = options.keep || !report || report.violations.length > 0;
    // Kept: a private cluster is stopped but its files stay in the run directory.
    if (options.keep) db?.stopNow?.();
    else await db?.dispose().catch(() => undefined);
    if (!keep) rmSync(runDir, { recursive: true, force: true });
    process.removeListener('exit', onExit);
  }
}
