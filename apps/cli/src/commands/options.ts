import { InvalidArgumentError } from 'commander';
import type { Command } from 'commander';

/** A whole number from the command line; commander reports a bad one as a usage error. */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** A time such as `2026-12-01` or `2026-12-01T09:30:00Z` (JavaScript's Date reads it; the server gets epoch ms). */
export function time(value: string): Date {
  const at = new Date(value.trim());
  if (value.trim() === '' || Number.isNaN(at.getTime())) {
    throw new InvalidArgumentError('expected a time such as 2026-01-31 or 2026-01-31T12:00:00Z');
  }
  return at;
}

/** A comma-separated list: `--roles client,worker`. */
export function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/** `--input` and `--input-file`, for commands that send a payload. */
export function withInput(command: Command, what: string): Command {
  return command
    .option('--input <json>', `${what} as JSON text`)
    .option('--input-file <path>', `${what} as a JSON file ('-' reads stdin)`);
}
