/**
 * `pnpm chaos [--profile short|long] [--runs N] [--steps K] [--window SECONDS]
 *             [--workers N] [--seed N] [--keep]`
 * (or CHAOS_PROFILE, CHAOS_RUNS, CHAOS_STEPS, CHAOS_WINDOW, CHAOS_WORKERS, CHAOS_SEED, CHAOS_KEEP=1).
 * Prints the report; exits 1 when an invariant broke.
 */
import { profileFrom } from './options';
import { formatReport } from './report';
import { runChaos } from './runner';

// Ctrl-C or a CI timeout: exit through process.exit so the runner's 'exit' hook kills every child
// process and stops a private PostgreSQL (a shared-server database may be left behind: baton_chaos_*).
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

async function main(): Promise<void> {
  const { profile, keep } = profileFrom(process.argv.slice(2), process.env);
  const report = await runChaos({
    profile,
    keep,
    log: (line) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  process.exitCode = report.violations.length > 0 ? 1 : 0;
}

main().then(
  // Anything left behind (a stuck socket) must not keep the process alive after the verdict.
  () => process.exit(),
  (err: unknown) => {
    process.stderr.write(`chaos run crashed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(2);
  },
);
