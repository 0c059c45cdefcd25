#!/usr/bin/env node
// Server memory over repeated W1 runs: ONE all-in-one Baton server (started by the peers harness's own
// adapters/baton.mjs, so exactly as the peers benchmark runs it) takes the peers W1 burst three times,
// and the server's RSS (/proc/<pid>/status VmRSS) is printed after start, after each run (after a short
// settle), and 10 s later; then the growth from run 1 to run 3 in %.
//   BATON_MAIN=/work/main PEERS_DIR=/tmp/peers node bench/peers/rss-flat.mjs [--runs 3] [--json]
// PEERS_DIR: an installed copy of the peers harness (its lib/harness.mjs, adapters/baton.mjs and its
// node_modules are used as they are). Sizes and knobs are the harness's env (W1_N=5000, CONCURRENCY=50,
// ENQ_PAR=10, WARMUP=10, RUN_TIMEOUT_S, PG_*), plus:
//   RSS_SETTLE_S (2): wait after a run before the first sample; RSS_LATER_S (10): the second sample;
//   RSS_GC=1 (diagnostic, off by default): also force a full GC through the inspector protocol (the
//     server is started with NODE_OPTIONS=--inspect=127.0.0.1:RSS_INSPECT_PORT; nothing in the product is
//     involved) once after warm-up and once after the last run's samples, never between runs, so the heap
//     that survives all runs can be told from allocator slack. The first GC lowers run 1's RSS and so
//     inflates the run 1 -> 3 growth: judge the target with the default RSS_GC=0.
//   RSS_INSPECT_PORT (49229); RSS_MAX_GROWTH_PCT (10): the verdict's threshold.
// Heap figures come from the server's own /metrics (prom-client default metrics).
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const peersDir = path.resolve(process.env.PEERS_DIR || '/tmp/peers');
process.env.BATON_MAIN ||= path.resolve(here, '../..');
const h = await import(pathToFileURL(path.join(peersDir, 'lib/harness.mjs')).href);
const adapter = await import(pathToFileURL(path.join(peersDir, 'adapters/baton.mjs')).href);

const argv = process.argv.slice(2);
const runs = Math.max(2, Number(argv[argv.indexOf('--runs') + 1] || 0) || 3);
const asJson = argv.includes('--json');
const num = (k, d) => (process.env[k] ? Number(process.env[k]) : d);
const SETTLE_S = num('RSS_SETTLE_S', 2);
const LATER_S = num('RSS_LATER_S', 10);
const GC = process.env.RSS_GC === '1';
const INSPECT_PORT = num('RSS_INSPECT_PORT', 49229);
const MAX_GROWTH = num('RSS_MAX_GROWTH_PCT', 10);

const cfg = h.loadConfig();
const N = cfg.W1_N;
const tracker = new h.Tracker();
const stamp = `${Date.now().toString(36)}${process.pid}`;
const dbName = `peers_rssflat_w1_${stamp}`;
const tmp = mkdtempSync(path.join(tmpdir(), 'peers-rss-'));
const runTimeoutMs = cfg.RUN_TIMEOUT_S * 1000;
const log = (...a) => console.error('[rss-flat]', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mb = (kb) => Math.round((kb / 1024) * 10) / 10;

function procMem(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { rss_kb: kb('VmRSS'), hwm_kb: kb('VmHWM') };
}

// Heap figures from the server's /metrics (process-wide default metrics of prom-client).
async function heapMb(port) {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const get = (name, labels = '(?:\\{[^}]*\\})?') => {
      const m = text.match(new RegExp(`^${name}${labels} ([0-9.e+]+)`, 'm'));
      return m ? Math.round((Number(m[1]) / 2 ** 20) * 10) / 10 : null;
    };
    const space = (name) => get('nodejs_heap_space_size_total_bytes', `\\{space="${name}"[^}]*\\}`);
    return {
      heap_used_mb: get('nodejs_heap_size_used_bytes'),
      // What V8 holds from the OS (the part of RSS the heap accounts for), and its young generation:
      // the semi-spaces V8 grows with the allocation rate of the busiest period so far.
      heap_total_mb: get('nodejs_heap_size_total_bytes'),
      heap_new_mb: space('new'),
      heap_old_mb: space('old'),
      external_mb: get('nodejs_external_memory_bytes'),
    };
  } catch {
    return {};
  }
}

// One Chrome DevTools Protocol call over the inspector's WebSocket (Node 20 has no WebSocket client):
// HeapProfiler.collectGarbage runs a full GC in the server, which needs no code in the product.
async function inspectorGc(port) {
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(5000) })).json();
  const url = new URL(list[0].webSocketDebuggerUrl);
  const socket = await new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      },
    });
    req.once('upgrade', (_res, s) => resolve(s));
    req.once('response', (res) => reject(new Error(`inspector refused the upgrade: ${res.statusCode}`)));
    req.once('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('inspector upgrade timed out')));
    req.end();
  });
  try {
    const payload = Buffer.from(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    if (payload.length > 125) throw new Error('payload too long for a one-byte frame length');
    const mask = randomBytes(4);
    const frame = Buffer.concat([
      Buffer.from([0x81, 0x80 | payload.length]),
      mask,
      payload.map((b, i) => b ^ mask[i % 4]),
    ]);
    socket.write(frame);
    // The reply to id 1 arrives once the GC has run (no domain is enabled, so nothing else is sent).
    await new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const t = setTimeout(() => reject(new Error('no reply to collectGarbage within 30 s')), 30000);
      socket.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.includes('"id":1')) {
          clearTimeout(t);
          resolve();
        }
      });
      socket.once('error', reject);
    });
  } finally {
    socket.destroy();
  }
}

let eng = null;
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  try {
    if (eng) await Promise.race([eng.teardown(), sleep(30000)]);
  } catch (e) {
    log('teardown error', e);
  }
  if (!cfg.KEEP_DB) await h.dropDb(cfg, dbName).catch((e) => log('dropDb error', e.message));
  rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    Promise.race([cleanup(), sleep(40000)]).finally(() => process.exit(130));
  });
}
const killer = setTimeout(
  () => {
    log('overall deadline passed; cleaning up');
    Promise.race([cleanup(), sleep(40000)]).finally(() => process.exit(124));
  },
  (cfg.RUN_TIMEOUT_S * runs + 300) * 1000,
);
killer.unref();

const samples = [];
async function sample(label, pid, httpPort) {
  const s = { label, ...procMem(pid), ...(await heapMb(httpPort)) };
  samples.push(s);
  log(
    `${label}: RSS ${mb(s.rss_kb)} MB (peak ${mb(s.hwm_kb)} MB), heap used ${s.heap_used_mb ?? '?'} MB of ${s.heap_total_mb ?? '?'} (new space ${s.heap_new_mb ?? '?'}, old ${s.heap_old_mb ?? '?'})`,
  );
  return s;
}

// The peers W1 loop of run.mjs: N enqueues with ENQ_PAR in flight, wait for every completion.
async function w1(rep) {
  const ids = Array.from({ length: N }, (_, i) => `w1-r${rep}-${i}`);
  const tEnq = new Array(N);
  const t0 = h.now();
  await h.pool(N, cfg.ENQ_PAR, async (i) => {
    if (h.now() - t0 > runTimeoutMs) throw new Error(`enqueue exceeded RUN_TIMEOUT_S at ${i}/${N}`);
    tEnq[i] = h.now();
    await eng.enqueue('one', ids[i], i);
  });
  await tracker.waitCount(ids, Math.max(1000, runTimeoutMs - (h.now() - t0)));
  let last = 0;
  const lat = [];
  for (let i = 0; i < N; i++) {
    const d = tracker.doneAt.get(ids[i]);
    if (tracker.value.get(ids[i]) !== i + 1) throw new Error(`bad result for ${ids[i]}: ${tracker.value.get(ids[i])}`);
    last = Math.max(last, d);
    lat.push(d - tEnq[i]);
  }
  return { workflows_per_s: Math.round((N / ((last - t0) / 1000)) * 10) / 10, latency_ms: h.summarize(lat) };
}

const result = { n: N, runs, concurrency: cfg.CONCURRENCY, enq_par: cfg.ENQ_PAR, warmup: cfg.WARMUP, ok: false };
const savedNodeOptions = process.env.NODE_OPTIONS;
try {
  await h.createFreshDb(cfg, dbName);
  const ctx = {
    cfg,
    workload: 'W1',
    kinds: ['one'],
    concurrency: cfg.CONCURRENCY,
    steps: cfg.W2_STEPS,
    sleepMs: cfg.SLEEP_MS,
    profile: cfg.PROFILE,
    tmpDir: tmp,
    dbName,
    pgUrl: h.pgUrl(cfg, dbName),
    hooks: { done: (id, v) => tracker.done(id, v), woke: (id, intended) => tracker.woke(id, intended) },
    waitDone: (id) => tracker.waitDone(id, runTimeoutMs),
    log,
  };
  eng = await adapter.create(ctx);
  // The adapter passes the runner's environment (minus BATON_*) to the server: the inspector flag
  // reaches the server only, since this process has already started.
  if (GC) process.env.NODE_OPTIONS = `${savedNodeOptions || ''} --inspect=127.0.0.1:${INSPECT_PORT}`.trim();
  try {
    await eng.setup();
  } finally {
    if (savedNodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = savedNodeOptions;
  }
  await eng.startWorker();
  const pid = eng.serverPid();
  const httpPort = Number(process.env.BATON_HTTP_PORT || 48080);
  result.server_pid = pid;
  result.gc = GC ? `inspector 127.0.0.1:${INSPECT_PORT}` : 'off';

  const warm = Array.from({ length: cfg.WARMUP }, (_, i) => `warm-${i}`);
  await h.pool(warm.length, cfg.ENQ_PAR, (i) => eng.enqueue('one', warm[i], i));
  await tracker.waitCount(warm, runTimeoutMs);
  await sample('after start + warm-up', pid, httpPort);
  // A GC that cannot be forced (inspector port taken, say) loses only the GC samples.
  const forceGc = async (label) => {
    if (!GC) return null;
    const forced = await inspectorGc(INSPECT_PORT).then(
      () => true,
      (e) => log(`forced GC failed: ${e.message}`),
    );
    if (!forced) return null;
    await sleep(500);
    return sample(label, pid, httpPort);
  };
  const gcStart = await forceGc('after start + warm-up (+GC)');

  result.runs_detail = [];
  for (let rep = 1; rep <= runs; rep++) {
    const r = await w1(rep);
    log(`run ${rep}: ${r.workflows_per_s} wf/s, p50 ${r.latency_ms.p50} ms`);
    await sleep(SETTLE_S * 1000);
    const a = await sample(`after run ${rep} (+${SETTLE_S}s)`, pid, httpPort);
    await sleep(LATER_S * 1000);
    const b = await sample(`after run ${rep} (+${SETTLE_S + LATER_S}s)`, pid, httpPort);
    result.runs_detail.push({ rep, ...r, rss_mb: mb(a.rss_kb), rss_later_mb: mb(b.rss_kb) });
  }
  const gcEnd = await forceGc(`after run ${runs} (+GC)`);
  const completed = await eng.confirm('one', N * runs + cfg.WARMUP, cfg.CONFIRM_TIMEOUT_S * 1000);
  if (completed < N * runs + cfg.WARMUP)
    throw new Error(`only ${completed}/${N * runs + cfg.WARMUP} recorded COMPLETED`);
  const first = result.runs_detail[0];
  const lastRun = result.runs_detail[runs - 1];
  const pct = (a, b) => (a && b ? Math.round(((b - a) / a) * 1000) / 10 : null);
  const growth = (k) => pct(first[k], lastRun[k]);
  result.samples = samples.map((s) => ({ ...s, rss_mb: mb(s.rss_kb), hwm_mb: mb(s.hwm_kb) }));
  result.growth_pct = {
    rss_later: growth('rss_later_mb'),
    rss: growth('rss_mb'),
    // Start (after warm-up) to end (after every run), both right after a forced GC: what the runs left behind.
    rss_gc_start_to_end: gcStart && gcEnd ? pct(gcStart.rss_kb, gcEnd.rss_kb) : null,
    heap_gc_start_to_end: gcStart && gcEnd ? pct(gcStart.heap_used_mb, gcEnd.heap_used_mb) : null,
  };
  result.verdict =
    result.growth_pct.rss_later <= MAX_GROWTH ? `flat (<= ${MAX_GROWTH} %)` : `GROWS (> ${MAX_GROWTH} %)`;
  result.ok = true;
} catch (e) {
  result.error = String(e?.stack || e).slice(0, 2000);
  log('ERROR', e);
} finally {
  await cleanup();
}

if (asJson) {
  process.stdout.write(JSON.stringify(result) + '\n');
} else {
  const out = [
    `Baton all-in-one server RSS over ${runs} x W1 (N=${N}, concurrency ${cfg.CONCURRENCY}, ${cfg.ENQ_PAR} starts in flight), one server process`,
    '',
  ];
  out.push(
    '| when | RSS MB | peak RSS MB | heap used MB | heap total MB | new space MB | old space MB |',
    '|---|---|---|---|---|---|---|',
  );
  for (const s of result.samples || samples)
    out.push(
      `| ${s.label} | ${mb(s.rss_kb)} | ${mb(s.hwm_kb)} | ${s.heap_used_mb ?? '–'} | ${s.heap_total_mb ?? '–'} | ${s.heap_new_mb ?? '–'} | ${s.heap_old_mb ?? '–'} |`,
    );
  out.push('', '| run | wf/s | latency p50 / p95 / p99 ms |', '|---|---|---|');
  for (const r of result.runs_detail || [])
    out.push(`| ${r.rep} | ${r.workflows_per_s} | ${r.latency_ms.p50} / ${r.latency_ms.p95} / ${r.latency_ms.p99} |`);
  if (result.ok) {
    const g = result.growth_pct;
    out.push(
      '',
      `RSS growth run 1 -> run ${runs}: ${g.rss_later} % (samples ${SETTLE_S + LATER_S} s after each run; ${g.rss} % at +${SETTLE_S} s) -> ${result.verdict}`,
    );
    if (g.heap_gc_start_to_end !== null)
      out.push(
        `After a forced GC, start (after warm-up) -> after run ${runs}: RSS ${g.rss_gc_start_to_end} %, heap used ${g.heap_gc_start_to_end} % (RSS_GC=1: the GC before run 1 inflates the growth above; judge the target with RSS_GC=0)`,
      );
  } else {
    out.push('', `FAILED: ${result.error}`);
  }
  console.log(out.join('\n'));
}
process.exit(result.ok ? 0 : 1);
