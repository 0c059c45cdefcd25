import { existsSync } from 'node:fs';
import type { WorkflowContext } from '@baton/sdk';
import { TestEnvironment } from './test-environment';

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;
// initdb and four apps take a few seconds, more on a busy 2-core machine.
const TIMEOUT_MS = 120_000;

// Nothing installed but the package: PostgreSQL embedded, in a temporary directory removed on stop.
describe('TestEnvironment on an embedded PostgreSQL', () => {
  let env: TestEnvironment | undefined;

  afterAll(() => env?.stop(), TIMEOUT_MS);

  test(
    'runs a workflow that sleeps a week, and removes everything on stop',
    async () => {
      env = await TestEnvironment.start();
      const virtualStart = env.now().getTime();
      await env.worker({
        workflows: {
          weekly: async (ctx: WorkflowContext, n: number) => {
            await ctx.sleep('week', '7d');
            return ctx.step('double', () => n * 2);
          },
        },
      });
      const run = await env.client.start('weekly', 21);
      await expect(env.client.result(run.id)).resolves.toBe(42);
      expect(env.now().getTime() - virtualStart).toBeGreaterThanOrEqual(WEEK_MS);

      const dataDir = env.dataDirectory!;
      expect(existsSync(dataDir)).toBe(true);
      await env.stop();
      await env.stop(); // idempotent
      expect(existsSync(dataDir)).toBe(false);
    },
    TIMEOUT_MS,
  );
});
