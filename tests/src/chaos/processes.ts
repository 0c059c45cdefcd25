import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Compiled chaos scripts (tests/dist/chaos), whether the runner itself runs from src (Jest) or dist (CLI). */
export const CHAOS_DIST = join(__dirname, '..', '..', 'dist', 'chaos');
export const ORPHAN_GUARD = join(CHAOS_DIST, 'orphan-guard.js');

/** An exit nobody asked for (a crash, a failed boot), noted for the report. */
export interface UnplannedExit {
  name: string;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A node process the chaos run keeps alive: spawned with the orphan guard,
 * output appended to its own log file, and started again whenever it exits
 * without being told to (a service whose boot failed during an outage comes
 * back by itself, as under Kubernetes). Planned kills go through kill().
 */
export class Supervised {
  private child?: ChildProcess;
  private exited: Promise<void> = Promise.resolve();
  private planned = false;
  private retired = false;
  private respawnTimer?: NodeJS.Timeout;
  private crashes = 0;
  /** Times start() was called (the first start included). */
  starts = 0;

  constructor(
    readonly name: string,
    private readonly script: string,
    private readonly env: Record<string, string>,
    private readonly logFile: string,
    private readonly onUnplannedExit: (exit: UnplannedExit) => void,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    clearTimeout(this.respawnTimer);
    if (this.retired || this.running) return;
    this.planned = false;
    this.starts++;
    const log = openSync(this.logFile, 'a');
    writeSync(log, `\n===== ${new Date().toISOString()} start #${this.starts} (${this.name}) =====\n`);
    const child = spawn(process.execPath, ['-r', ORPHAN_GUARD, this.script], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.planned && !this.retired) {
          this.onUnplannedExit({ name: this.name, at: Date.now(), code, signal });
          // Back off a little when it keeps dying at boot (e.g. the database refuses connections).
          const delay = Math.min(2_000, 200 * 2 ** Math.min(this.crashes++, 4));
          this.respawnTimer = setTimeout(() => this.start(), delay);
        } else {
          this.crashes = 0;
        }
        resolve();
      });
    });
  }

  /**
   * Sends `signal` and waits for the exit; a SIGTERM that has not ended the
   * process after `graceMs` is followed by SIGKILL. Returns how long it took
   * and whether the SIGKILL was needed.
   */
  async kill(signal: NodeJS.Signals, graceMs = 30_000): Promise<{ ms: number; forced: boolean }> {
    const started = Date.now();
    clearTimeout(this.respawnTimer);
    if (!this.running) return { ms: 0, forced: false };
    this.planned = true;
    this.child!.kill(signal);
    let forced = false;
    if (signal !== 'SIGKILL') {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        forced = true;
        this.child!.kill('SIGKILL');
      }
    }
    await this.exited;
    return { ms: Date.now() - started, forced };
  }

  /** Final stop at the end of the run: never started again. */
  async retire(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    this.retired = true;
    clearTimeout(this.respawnTimer);
    this.planned = true;
    if (this.running) await this.kill(signal, graceMs);
  }

  /** Synchronous last resort from a process 'exit' handler. */
  killNow(): void {
    this.retired = true;
    clearTimeout(this.respawnTimer);
    if (this.running) this.child!.kill('SIGKILL');
  }
}
