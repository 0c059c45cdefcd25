import type { Command } from 'commander';
import type { Session } from '../session';

/** A command's body: its session (connection, output) and its parsed command line. */
export type CommandBody = (session: Session, args: string[], command: Command) => Promise<void>;

/** Turns a body into a commander action, giving it a session that is closed when the CLI finishes. */
export type Act = (body: CommandBody) => (...commanderArgs: unknown[]) => Promise<void>;
