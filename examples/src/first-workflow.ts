/**
 * Your first Baton workflow: a worker that runs `greet`, a client that starts
 * a run and waits for its result.
 *
 *   pnpm start                                   # in one terminal: the all-in-one server
 *   pnpm --filter @baton/examples first-workflow # in another
 *
 * Connects to localhost:50051; set BATON_ADDRESS to use another server.
 */
import { createConnection } from 'node:net';
import { Client, Worker } from '@baton/sdk';
import type { WorkflowContext } from '@baton/sdk';

const address = process.env.BATON_ADDRESS ?? 'localhost:50051';
const queue = 'greetings';

/**
 * Each step's result is stored once it completes. If the worker dies during
 * the sleep, another worker replays the function from the top: `compose`
 * returns its stored result instead of running again.
 */
async function greet(ctx: WorkflowContext, input: { name: string }) {
  const greeting = await ctx.step('compose', () => `Hello, ${input.name}!`);
  await ctx.sleep('pause', '1s'); // durable: the run is parked in the database, not in this process
  return ctx.step('shout', () => greeting.toUpperCase());
}

async function main(): Promise<void> {
  if (!(await reachable(address))) {
    console.error(`No Baton server at ${address}. Start one with \`pnpm start\`, or set BATON_ADDRESS.`);
    process.exitCode = 1;
    return;
  }
  const worker = new Worker({ address, queue }).register('greet', greet);
  await worker.start();
  const client = new Client({ address });
  try {
    const run = await client.start('greet', { name: 'Baton' }, { queue });
    console.log(`started run ${run.id}`);
    console.log('result:', await client.result(run.id, { timeout: '1m' }));
    console.log('steps:');
    for (const step of await client.steps(run.id)) {
      const ms = step.finishedAt ? step.finishedAt.getTime() - step.startedAt.getTime() : 0;
      console.log(`  ${step.seq}. ${step.stepId} (${step.kind}, ${step.status}, ${ms} ms)`, step.output ?? '');
    }
  } finally {
    client.close();
    await worker.stop();
  }
}

/** A quick check, so that a missing server is reported at once rather than after the SDK's 30 s deadline. */
function reachable(target: string): Promise<boolean> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const socket = createConnection({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
