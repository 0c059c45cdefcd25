// @ts-check
// ESLint flat config for the whole monorepo. Each package runs `eslint src`;
// `files` globs below are relative to this file (the repository root).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Packages that are deployable apps: no other app or library may import them. */
const APPS = ['frontend', 'matching', 'scheduler', 'watchdog'];

/** `@baton/<pkg>/src/...` bypasses a package's public entry point. */
const deepImports = {
  group: ['@baton/*/src', '@baton/*/src/**'],
  message: "Import the package's public entry point ('@baton/<pkg>'), not its source files.",
};

/** Importing an app (by name or by a relative path into its source) from an app or a library. */
const appImports = {
  group: APPS.flatMap((app) => [`@baton/${app}`, `@baton/${app}/**`, `**/apps/${app}/**`, `**/${app}/src/**`]),
  message:
    'Apps do not import each other (they talk over NATS), and libraries never import apps. ' +
    'Only apps/server and tests/ may compose several apps.',
};

const nodeGlobals = {
  process: 'readonly',
  console: 'readonly',
  Buffer: 'readonly',
  setTimeout: 'readonly',
  clearTimeout: 'readonly',
  setInterval: 'readonly',
  clearInterval: 'readonly',
  URL: 'readonly',
};
const commonjsGlobals = {
  ...nodeGlobals,
  module: 'writable',
  exports: 'writable',
  require: 'readonly',
  __dirname: 'readonly',
  __filename: 'readonly',
};

export default defineConfig([
  globalIgnores([
    '**/dist/',
    '**/node_modules/',
    '**/.turbo/',
    '**/coverage/',
    '**/.baton/',
    '**/*.js',
    '**/*.cjs',
    // generated from proto/ (buf.gen.yaml)
    'proto/src/generated/',
    // config files are linted even though they are JavaScript
    '!**/*.config.js',
    '!**/*.config.cjs',
    '!**/jest.preset.js',
  ]),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    rules: {
      // Types come from proto/ (generated) and libs/contracts; `unknown` where a value is not yet checked.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': ['error', { patterns: [deepImports] }],
    },
  },

  // The row mappers: a database row is read column by column (`Row`, in sql.ts) and mapped to a
  // typed view in rows.ts and the repositories; its columns have no static type to give.
  {
    files: ['libs/persistence/src/rows.ts', 'libs/persistence/src/sql.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },

  // Apps and libraries may not import apps (apps/server and tests/ may).
  {
    files: [...APPS.map((app) => `apps/${app}/**`), 'libs/**', 'proto/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [deepImports, appImports] }],
    },
  },

  // JavaScript config files (jest.config.js, jest.preset.js, ...) are CommonJS on Node.
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: commonjsGlobals },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: nodeGlobals },
  },
]);
