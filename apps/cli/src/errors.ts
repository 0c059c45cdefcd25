import { CommanderError } from 'commander';
import { BatonError, ErrorCode } from '@baton/sdk';

/** How `baton` exits: scripts can tell a refusal from a typo from an unreachable server. */
export const ExitCode = {
  OK: 0,
  /** The server refused the request (NOT_FOUND, INVALID_ARGUMENT, ...), or the run did not complete. */
  REFUSED: 1,
  /** The command line itself is wrong: unknown command or flag, a bad value, unreadable input. */
  USAGE: 2,
  /** No server answered: it cannot be reached, or it is unavailable or too slow. */
  UNAVAILABLE: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A mistake on the command line found after parsing (bad JSON in --input, say). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The run a command waited for ended otherwise than COMPLETED; the command has said so already. */
export class RunNotCompletedError extends Error {
  override name = 'RunNotCompletedError';
}

// Commander's own outcomes that are not mistakes.
const COMMANDER_OK = new Set(['commander.helpDisplayed', 'commander.version']);

const TRANSIENT: ReadonlySet<string> = new Set([ErrorCode.UNAVAILABLE, ErrorCode.DEADLINE_EXCEEDED]);

export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof CommanderError) return COMMANDER_OK.has(err.code) ? ExitCode.OK : ExitCode.USAGE;
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (err instanceof BatonError && TRANSIENT.has(err.code)) return ExitCode.UNAVAILABLE;
  return ExitCode.REFUSED;
}

/**
 * The line printed on stderr: `error: CODE: message (field: f)` for the
 * server's errors. Null when there is nothing more to say (commander printed
 * its own message; a run's failure was reported by the command).
 */
export function errorLine(err: unknown): string | null {
  if (err instanceof CommanderError || err instanceof RunNotCompletedError) return null;
  if (err instanceof BatonError) {
    return `error: ${err.code}: ${err.message}${err.field ? ` (field: ${err.field})` : ''}`;
  }
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}
