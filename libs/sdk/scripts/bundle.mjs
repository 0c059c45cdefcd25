// Builds the installable SDK into dist/: one CommonJS bundle (esbuild) holding the SDK with the
// parts of @baton/contracts and @baton/proto it uses, one bundled declaration file (rollup +
// rollup-plugin-dts) and the .proto files the gRPC client loads at run time. Every npm dependency
// of the SDK stays external: its package.json `dependencies` are what installing the tarball brings.
import { cp, readFile, rm } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { rollup } from 'rollup';
import { dts } from 'rollup-plugin-dts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(root, '..', '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
const dependencies = Object.keys(pkg.dependencies ?? {});
const isExternal = (id) =>
  id.startsWith('node:') ||
  builtinModules.includes(id) ||
  dependencies.some((name) => id === name || id.startsWith(`${name}/`));

/** The workspace packages the bundle carries (their sources, through the tsconfig paths). */
const BUNDLED = [join('libs', 'contracts', 'src'), join('proto', 'src')];
const isBundledSource = (path) => BUNDLED.some((folder) => relative(repo, path).startsWith(folder + sep));

/**
 * The modules of @baton/contracts and @baton/proto only define things, so whatever the SDK does
 * not import can be left out: that keeps the server's configuration (zod) and cron
 * (cron-parser) out of the bundle. esbuild takes this from a package's `sideEffects`; it is
 * said here so that it holds for this bundle alone.
 */
const definitionsOnly = {
  name: 'definitions-only',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'definitions-only' || isExternal(args.path)) return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'definitions-only',
      });
      if (resolved.errors.length > 0 || !isBundledSource(resolved.path)) return resolved;
      return { ...resolved, sideEffects: false };
    });
  },
};

/**
 * @baton/proto finds its .proto files one folder above its own dist (`join(__dirname, '..')`);
 * bundled, that code runs from dist/index.js, so it is pointed at dist/proto instead. The build
 * fails if the line it rewrites ever changes, rather than shipping an SDK that cannot load them.
 */
const protoRoot = {
  name: 'proto-root',
  setup(b) {
    const from = "export const PROTO_ROOT = join(__dirname, '..');";
    const to = "export const PROTO_ROOT = join(__dirname, 'proto');";
    b.onLoad({ filter: /[\\/]proto[\\/]src[\\/]index\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      if (source.split(from).length !== 2) throw new Error(`${args.path}: expected exactly one \`${from}\``);
      return { contents: source.replace(from, to), loader: 'ts' };
    });
  },
};

await rm(dist, { recursive: true, force: true });

await build({
  entryPoints: [join(root, 'src', 'index.ts')],
  outfile: join(dist, 'index.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  tsconfig: join(root, 'tsconfig.bundle.json'),
  external: [...dependencies, ...dependencies.map((name) => `${name}/*`), 'node:*'],
  // No keepNames: its wrapper defines a closure's name each time one is created, on the worker's
  // hot path (2 % of its time in a burst); the error classes name themselves (`override name`).
  keepNames: false,
  sourcemap: true,
  logLevel: 'warning',
  plugins: [definitionsOnly, protoRoot],
});

await cp(join(repo, 'proto', 'baton'), join(dist, 'proto', 'baton'), {
  recursive: true,
  filter: (path) => !/\.[^/\\]+$/.test(path) || path.endsWith('.proto'),
});

const types = await rollup({
  input: join(root, 'src', 'index.ts'),
  external: isExternal,
  plugins: [dts({ tsconfig: join(root, 'tsconfig.json'), compilerOptions: { noEmit: false } })],
  onwarn(warning) {
    throw new Error(`declaration bundle: ${warning.message}`);
  },
});
await types.write({ file: join(dist, 'index.d.ts'), format: 'es' });
await types.close();
