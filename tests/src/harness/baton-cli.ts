import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** How a `baton` process ended, and everything it wrote. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

// The CLI's own settings from the environment running the tests never leak into a test's command line.
const CLI_VARIABLES = ['BATON_ADDRESS', 'BATON_NAMESPACE', 'BATON_API_KEY'];

/**
 * `baton <args>` as a real process, compiled from source like the apps the
 * harness spawns (run-from-source.js), so a test never runs a stale build.
 * `env` is added to this process's environment, less the CLI's own variables;
 * a variable given as undefined is removed.
 */
export class CliProcess {
  private out = '';
  private err = '';
  private readonly child: ChildProcess;
  /** Settles when the process has exited and its output has been read to the end. */
  readonly done: Promise<CliResult>;

  constructor(args: string[], env: Record<string, string | undefined> = {}) {
    const merged: Record<string, string | undefined> = { ...process.env };
    for (const name of CLI_VARIABLES) delete merged[name];
    Object.assign(merged, env);
    // A variable given as undefined is left out (spawn would pass the text "undefined").
    const childEnv = Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined));
    this.child = spawn(process.execPath, [join(__dirname, 'run-from-source.js'), 'cli', ...args], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.out += chunk));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.err += chunk));
    this.done = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      // 'close', not 'exit': by then both pipes have been read to the end.
      this.child.once('close', (code, signal) => resolve({ code, signal, stdout: this.out, stderr: this.err }));
    });
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Runs `baton <args>` to its end. */
export function baton(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new CliProcess(args, env).done;
}
