import type { Command } from 'commander';
import { Client } from '@baton/sdk';
import { checkReachable } from './connect';
import { table, toJson } from './format';
import type { Cell } from './format';

/** Where the CLI writes: the process's streams, or a test's. */
export interface Io {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
}

/** The options every command takes (before or after its name). */
export interface GlobalOptions {
  address: string;
  namespace: string;
  apiKey?: string;
  json?: boolean;
}

/** What `--json` changes: one JSON document (or one per line when streaming) instead of text. */
export class Output {
  constructor(
    private readonly io: Io,
    readonly json: boolean,
  ) {}

  get interactive(): boolean {
    return !this.json && this.io.stdout.isTTY === true;
  }

  line(text = ''): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** Without a newline: a progress line redrawn in place. */
  raw(text: string): void {
    this.io.stdout.write(text);
  }

  table(headers: string[], rows: Cell[][], empty: string): void {
    this.line(rows.length === 0 ? empty : table(headers, rows));
  }

  /** The command's result: `json()` as JSON with --json, else `human()` prints text. */
  result(json: () => unknown, human: () => void): void {
    if (this.json) this.line(toJson(json()));
    else human();
  }

  /** One event of a stream as one line of JSON (NDJSON). */
  event(value: unknown): void {
    this.line(toJson(value, 0));
  }

  warn(text: string): void {
    this.io.stderr.write(`${text}\n`);
  }
}

/** One command's connection and output; the client is made (and the server checked) on first use. */
export class Session {
  readonly out: Output;
  private client?: Promise<Client>;
  private made?: Client;

  constructor(
    readonly options: GlobalOptions,
    io: Io,
  ) {
    this.out = new Output(io, options.json === true);
  }

  static of(command: Command, io: Io): Session {
    return new Session(command.optsWithGlobals<GlobalOptions>(), io);
  }

  connect(): Promise<Client> {
    return (this.client ??= checkReachable(this.options.address).then(() => {
      this.made = new Client({
        address: this.options.address,
        namespace: this.options.namespace,
        ...(this.options.apiKey ? { apiKey: this.options.apiKey } : {}),
      });
      return this.made;
    }));
  }

  close(): void {
    this.made?.close();
  }
}
