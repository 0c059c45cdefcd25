/**
 * A worker that keeps running: it executes `greet` runs (the workflow of
 * first-workflow.ts) on the `greetings` queue, whoever starts them (the
 * SDK, the HTTP API, the CLI), until Ctrl-C.
 *
 *   pnpm start                                   # in one terminal: the all-in-one server
 *   pnpm --filter @baton/examples greeter-worker # in another
 *
 * Connects to localhost:50051; set BATON_ADDRESS to use another server.
 */
import { Worker } from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';

const address = process.env.BATON_ADDRESS ?? 'localhost:50051';
const queue = 'greetings';

async function greet(ctx: WorkflowContext, input: { name: string }) {
  const greeting = await ctx.step('compose', () => `Hello, ${input.name}!`);
  await ctx.sleep('pause', '1s');
  return ctx.step('shout', () => greeting.toUpperCase());
}

async function main(): Promise<void> {
  const worker = new Worker({ address, queue }).register('greet', greet);
  await worker.start();
  console.log(`worker polling queue "${queue}" on ${address} for greet runs; Ctrl-C stops it`);
  // `on`, not `once`: under pnpm a Ctrl-C arrives twice (from the terminal, and passed on by pnpm).
  await new Promise<void>((resolve) => {
    process.on('SIGINT', () => resolve());
    process.on('SIGTERM', () => resolve());
  });
  // Runs in hand finish first (or are handed back at the grace period), then the worker deregisters.
  await worker.stop();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
