import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineWorkflow } from '@baton/sdk';
import { TestHarness } from '../index';

/**
 * @baton/sdk as a user gets it: `pnpm pack` of libs/sdk (the build's dist),
 * installed with npm into an empty folder outside the workspace, where nothing
 * of the repository can be resolved. The README's first workflow then runs
 * from it with plain node against this harness's server, and a TypeScript
 * file compiles against the types the tarball ships.
 */
const REPO = join(__dirname, '..', '..', '..');
const SDK = join(REPO, 'libs', 'sdk');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

/** The README's first workflow, as a newcomer would save it; the address and queue come from the test. */
const FIRST_WORKFLOW = `import { Client, Worker } from '@baton/sdk';

const address = process.env.BATON_ADDRESS;
const queue = process.env.QUEUE;

const worker = new Worker({ address, queue });
worker.register('greet', async (ctx, input) => {
  const greeting = await ctx.step('compose', () => \`Hello, \${input.name}!\`);
  await ctx.sleep('pause', '1s'); // durable: the worker slot is freed while it sleeps
  return ctx.step('shout', () => greeting.toUpperCase());
});
await worker.start();

const client = new Client({ address });
const run = await client.start('greet', { name: 'Baton' }, { queue });
console.log(await client.result(run.id, { timeout: '1m' }));
console.log((await client.steps(run.id)).map((step) => step.stepId).join(', '));
client.close();
await worker.stop();
`;

/** Typed handles from the installed declarations: each @ts-expect-error fails the build if the types were loose. */
const TYPED_CHECK = `import { BatonError, Client, Worker, WorkflowFailedError, defineWorkflow } from '@baton/sdk';
import type { RunHandle, WorkflowRun } from '@baton/sdk';

interface Order {
  id: string;
  amount: number;
}

export const order = defineWorkflow('order', async (ctx, input: Order) => {
  const charged = await ctx.step('charge', () => input.amount * 100);
  return { orderId: input.id, charged };
});

export async function main(client: Client, worker: Worker): Promise<number> {
  worker.register(order);
  worker.register('legacy', async (_ctx, n: number) => n + 1);
  const run: RunHandle<Order, { orderId: string; charged: number }> = await client.start(order, { id: 'o-1', amount: 42 });
  const output = await run.result({ timeout: '1m' });
  const again: { orderId: string; charged: number } = await client.result(run);
  // @ts-expect-error the input is an Order
  await client.start(order, { id: 'o-2' });
  // @ts-expect-error the output is the handler's object, not a string
  const wrong: string = await run.result();
  const byName: unknown = await client.result((await client.start('order', { id: 'o-3', amount: 1 })).id);
  const view: WorkflowRun = await client.get(run.id);
  try {
    await client.cancel(run.id);
  } catch (err) {
    if (err instanceof BatonError && err.code === 'FAILED_PRECONDITION') return 0;
    if (err instanceof WorkflowFailedError) return err.errorType === null ? 1 : 2;
    throw err;
  }
  return output.charged + again.charged + wrong.length + (byName === null ? 0 : 1) + view.attempt;
}
`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a non-zero exit is returned, not thrown, so the test can show its output. */
function run(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && code === 1 && !stderr ? String(err) : stderr });
    });
  });
}

const shown = (r: Ran) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/**
 * The environment of a user's shell: this machine's own, less what pnpm and
 * turbo add for the test run (the package being run, pnpm's user agent and
 * settings), which npm would otherwise read as its own.
 */
const RUN_SCOPED =
  /^(npm_(package_|lifecycle_|command$|execpath$|node_execpath$)|npm_config_(user_agent|verify_deps_before_run)$|pnpm_config_|PNPM_|TURBO_|INIT_CWD$)/;

function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!RUN_SCOPED.test(key)) env[key] = value;
  return { ...env, ...extra };
}

describe('installable SDK', () => {
  let h: TestHarness;
  let work: string;
  let app: string;
  let tarball: string;

  beforeAll(async () => {
    if (!existsSync(join(SDK, 'dist', 'index.js')) || !existsSync(join(SDK, 'dist', 'index.d.ts'))) {
      throw new Error('libs/sdk/dist is not built: run `pnpm --filter @baton/sdk build` first');
    }
    h = await TestHarness.start();
    work = await mkdtemp(join(tmpdir(), 'baton-sdk-package-'));
    const packed = await run('pnpm', ['pack', '--pack-destination', work], SDK, process.env, 120_000);
    if (packed.code !== 0) throw new Error(`pnpm pack failed: ${shown(packed)}`);
    const tarballs = (await readdir(work)).filter((f) => f.endsWith('.tgz'));
    if (tarballs.length !== 1) throw new Error(`expected one tarball in ${work}, found ${tarballs.join(', ')}`);
    tarball = join(work, tarballs[0]!);

    app = join(work, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'sdk-consumer', private: true }, null, 2));
    const installed = await run(
      'npm',
      ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'],
      app,
      userEnv(),
      240_000,
    );
    if (installed.code !== 0) throw new Error(`npm install of the tarball failed: ${shown(installed)}`);
  }, 400_000);

  afterAll(async () => {
    await h?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('the tarball holds the bundle, its declarations and the .proto files, and depends on registry packages only', async () => {
    const listed = await run('tar', ['-tzf', tarball], work, process.env, 30_000);
    expect(listed.code).toBe(0);
    const files = listed.stdout.split('\n').filter(Boolean).sort();
    expect(files).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/dist/index.js',
        'package/dist/index.d.ts',
        ...['admin', 'common', 'schedule', 'worker', 'workflow'].map((p) => `package/dist/proto/baton/v1/${p}.proto`),
      ]),
    );
    expect(files.filter((f) => f.startsWith('package/src/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual(
      [],
    );

    const installedSdk = join(app, 'node_modules', '@baton', 'sdk');
    const manifestText = await readFile(join(installedSdk, 'package.json'), 'utf8');
    expect(manifestText).not.toContain('workspace:');
    const manifest = JSON.parse(manifestText) as {
      dependencies: Record<string, string>;
      exports: Record<string, { types: string; default: string }>;
    };
    for (const [name, version] of Object.entries(manifest.dependencies)) {
      expect(`${name}@${version}`).toMatch(/^[@a-z][\w./-]*@\d+\.\d+\.\d+$/);
    }
    expect(Object.keys(manifest.dependencies).filter((name) => name.startsWith('@baton/'))).toEqual([]);
    expect(manifest.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });

    // The bundle carries contracts and proto: it loads only node's own modules and its declared dependencies.
    const bundle = await readFile(join(installedSdk, 'dist', 'index.js'), 'utf8');
    const required = [...new Set([...bundle.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!))];
    const declared = (id: string) =>
      id.startsWith('node:') ||
      builtinModules.includes(id) ||
      Object.keys(manifest.dependencies).some((dep) => id === dep || id.startsWith(`${dep}/`));
    expect(required.filter((id) => !declared(id))).toEqual([]);
    // Only what the SDK uses of contracts: with the server's configuration (zod) and cron code it is 1.3 MB.
    expect(statSync(join(installedSdk, 'dist', 'index.js')).size).toBeLessThan(512 * 1024);

    const resolved = await run(process.execPath, ['-p', "require.resolve('@baton/sdk')"], app, userEnv(), 30_000);
    expect(resolved.stdout.trim()).toBe(join(installedSdk, 'dist', 'index.js'));
  });

  test("the README's first workflow runs from the installed tarball with plain node", async () => {
    await writeFile(join(app, 'first-workflow.mjs'), FIRST_WORKFLOW);
    const queue = h.unique('packed');
    const ran = await run(
      process.execPath,
      ['first-workflow.mjs'],
      app,
      userEnv({ BATON_ADDRESS: h.grpcAddress, QUEUE: queue }),
      90_000,
    );
    expect({ code: ran.code, stdout: ran.stdout.trim().split('\n') }).toEqual({
      code: 0,
      stdout: ['HELLO, BATON!', 'compose, pause, shout'],
    });
  }, 120_000);

  test("the installed declarations type-check a consumer with the repository's tsc, handles typed by the workflow", async () => {
    const project = join(app, 'typed');
    await mkdir(project);
    await writeFile(join(project, 'check.mts'), TYPED_CHECK);
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'es2022',
          module: 'node16',
          moduleResolution: 'node16',
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          // @types/node for grpc-js's declarations: the install's own, else the repository's.
          typeRoots: [join(app, 'node_modules', '@types'), join(REPO, 'node_modules', '@types')],
        },
        files: ['check.mts'],
      }),
    );
    const checked = await run(process.execPath, [TSC, '-p', project, '--listFiles'], project, userEnv(), 120_000);
    expect(checked.code === 0 ? 'compiles' : shown(checked)).toBe('compiles');
    const files = checked.stdout.split('\n').filter(Boolean);
    expect(files).toContain(join(app, 'node_modules', '@baton', 'sdk', 'dist', 'index.d.ts'));
    // Nothing from the workspace's sources: the types come from the tarball alone.
    expect(files.filter((f) => f.startsWith(join(REPO, 'libs')) || f.startsWith(join(REPO, 'proto')))).toEqual([]);
  }, 150_000);

  test('a workflow made with defineWorkflow runs under its name, and its handle returns the typed output', async () => {
    const queue = h.unique('typed');
    const order = defineWorkflow('typed-order', async (ctx, input: { amount: number }) => {
      const charged = await ctx.step('charge', () => input.amount * 2);
      return { charged };
    });
    const worker = h.worker({ queue }).register(order);
    await worker.start();
    try {
      const client = h.client();
      const started = await client.start(order, { amount: 21 }, { queue });
      expect(started.run.workflowType).toBe('typed-order');
      const output: { charged: number } = await started.result({ timeout: '30s' });
      expect(output).toEqual({ charged: 42 });
      expect(await client.result(started)).toEqual({ charged: 42 });
      // The string API names the same workflow type.
      const byName = await client.start('typed-order', { amount: 1 }, { queue });
      expect(await client.result(byName.id, { timeout: '30s' })).toEqual({ charged: 2 });
    } finally {
      await worker.stop();
    }
  });
});
