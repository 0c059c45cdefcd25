import { runCli } from './cli';

// process.exitCode, not process.exit(): what was written to a pipe is flushed before the process ends.
void runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then((code) => {
  process.exitCode = code;
});
