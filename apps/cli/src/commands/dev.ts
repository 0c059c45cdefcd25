import { existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { Command } from 'commander';
import type { Act } from './act';

interface DevFlags {
  httpPort?: string;
  grpcPort?: string;
  dataDir?: string;
  databaseUrl?: string;
  logLevel?: string;
}

/** Each flag sets the variable `pnpm start` reads (the server checks the values), so the two start the same server. */
const ENV_OF: Record<keyof DevFlags, string> = {
  httpPort: 'BATON_HTTP_PORT',
  grpcPort: 'BATON_GRPC_PORT',
  dataDir: 'BATON_DATA_DIR',
  databaseUrl: 'DATABASE_URL',
  logLevel: 'BATON_LOG_LEVEL',
};

/**
 * The all-in-one server's own entry point (apps/server's main, what
 * `pnpm start` runs), beside the package's entry: dist/main.js when built,
 * src/main.ts when run from source. It reads its configuration, handles
 * Ctrl-C and SIGTERM and exits by itself.
 */
function serverMain(): string {
  let main: string | null = null;
  try {
    const entry = require.resolve('@baton/server');
    main = join(dirname(entry), `main${extname(entry)}`);
  } catch {
    // Not built: said below.
  }
  if (!main || !existsSync(main)) throw new Error('the Baton server is not built: run `pnpm build` first');
  return main;
}

/** `baton dev`: the all-in-one server in this process, with `pnpm start`'s defaults. */
export function registerDev(program: Command, act: Act): void {
  program
    .command('dev')
    .description(
      'run Baton on this machine, as `pnpm start` does: the whole server in one process, with an embedded ' +
        'PostgreSQL (data in .baton/) unless a database URL is given; Ctrl-C stops it',
    )
    .option('--http-port <port>', 'HTTP API port (default 8080)')
    .option('--grpc-port <port>', 'gRPC port for the SDK and this CLI (default 50051)')
    .option('--data-dir <dir>', 'where the embedded PostgreSQL keeps its data (default .baton)')
    .option('--database-url <url>', 'use this PostgreSQL instead of the embedded one')
    .option('--log-level <level>', 'debug, info, warn or error (default info)')
    .action(
      act(async (_session, _args, command) => {
        const flags = command.opts<DevFlags>();
        for (const [flag, variable] of Object.entries(ENV_OF) as Array<[keyof DevFlags, string]>) {
          if (flags[flag] !== undefined) process.env[variable] = flags[flag];
        }
        // Loaded for its effect: the entry point starts the server (a module, not a function, is its contract).
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        require(serverMain());
        // The server runs until a signal; its own handler exits the process.
        await new Promise<never>(() => undefined);
      }),
    );
}
