import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { registerAdmin } from './commands/admin';
import type { Act } from './commands/act';
import { registerDev } from './commands/dev';
import { registerSchedule } from './commands/schedule';
import { registerWorkflow } from './commands/workflow';
import { ExitCode, errorLine, exitCodeOf } from './errors';
import { Session } from './session';
import type { Io } from './session';

/** The SDK's default server (ClientOptions.address): what `baton dev` and `pnpm start` listen on. */
export const DEFAULT_ADDRESS = 'localhost:50051';

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

const EXAMPLES = `
Examples:
  $ baton dev                                    # a server on this machine
  $ baton workflow start greet --input '"Ada"'   # prints the run id
  $ baton workflow result <runId>                # waits, prints the output
  $ baton workflow list --status failed
  $ baton workflow describe <runId> --follow     # steps as they complete
  $ baton --json workflow list | jq '.runs[].id'

Exit codes: 0 ok, 1 refused by the server (or the run did not complete),
2 wrong usage, 3 server unreachable or unavailable.`;

function buildProgram(io: Io, sessions: Session[]): Command {
  const program = new Command('baton')
    .description('Baton from the command line: runs, schedules, workers, queues, API keys')
    .version(version())
    .addOption(
      new Option('--address <host:port>', "the server's gRPC address").env('BATON_ADDRESS').default(DEFAULT_ADDRESS),
    )
    .addOption(new Option('-n, --namespace <namespace>', 'namespace').env('BATON_NAMESPACE').default('default'))
    .addOption(new Option('--api-key <key>', 'API key (when the server requires keys)').env('BATON_API_KEY'))
    .option('--json', 'print JSON only, for scripts')
    .addHelpText('after', EXAMPLES);

  const act: Act =
    (body) =>
    (...commanderArgs) => {
      const command = commanderArgs[commanderArgs.length - 1] as Command;
      const session = Session.of(command, io);
      sessions.push(session);
      return body(session, command.processedArgs as string[], command);
    };
  registerDev(program, act);
  registerWorkflow(program, act);
  registerSchedule(program, act);
  registerAdmin(program, act);

  // Every command (sub-commands too) writes to `io` and throws rather than exits: runCli decides the exit code.
  const strict = (command: Command) => {
    command
      .exitOverride()
      .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
    command.commands.forEach(strict);
  };
  strict(program);
  return program;
}

/** Runs `baton <argv>` and says how it should exit; never exits the process itself. */
export async function runCli(argv: string[], io: Io): Promise<ExitCode> {
  const sessions: Session[] = [];
  try {
    await buildProgram(io, sessions).parseAsync(argv, { from: 'user' });
    return ExitCode.OK;
  } catch (err) {
    const line = errorLine(err);
    if (line) io.stderr.write(`${line}\n`);
    return exitCodeOf(err);
  } finally {
    for (const session of sessions) session.close();
  }
}
