/**
 * Baton test kit: a whole Baton server in your test process, with time
 * skipping.
 *
 * ```ts
 * import { TestEnvironment } from '@baton/testing';
 *
 * const env = await TestEnvironment.start(); // embedded PostgreSQL; or { databaseUrl: process.env.DATABASE_URL }
 * await env.worker({
 *   workflows: {
 *     reminder: async (ctx, to: string) => {
 *       await ctx.sleep('wait-a-day', '24h');
 *       return ctx.step('send', () => `reminded ${to}`);
 *     },
 *   },
 * });
 * const run = await env.client.start('reminder', 'ada');
 * console.log(await env.client.result(run.id)); // 'reminded ada', in milliseconds
 * console.log(env.now()); // a day ahead of the real clock
 * await env.stop();
 * ```
 */
export { TestEnvironment } from './test-environment';
export type { TestEnvironmentOptions, TestWorkerOptions } from './test-environment';
