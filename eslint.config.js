// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, URL } from 'node:url';
import tseslint from 'typescript-eslint';

/**
 * The pure modules: strings and plain objects in, strings out. No disk, no processes, no network,
 * no `process` (the platform is passed in), so they carry the unit tests, Windows inputs
 * included. The rule below keeps them so; a new pure module is added here, and an effectful one
 * they need has to hand over its result instead (or its types: `import type` stays allowed, as
 * types are erased at build time).
 */
export const PURE_MODULES = [
  'src/credentials/client-env.ts',
  'src/credentials/dotenv.ts',
  'src/credentials/ini.ts',
  'src/credentials/shell.ts',
  'src/export/compose.ts',
  'src/export/kubernetes.ts',
  'src/export/stack.ts',
  'src/export/yaml-files.ts',
  'src/mlflow/upstream-url.ts',
  'src/mlflow/versions.ts',
  'src/nginx/conf.ts',
  'src/nginx/current-user.ts',
  'src/nginx/permission-headers.ts',
  'src/nginx/token-maps.ts',
  'src/stack/permissions.ts',
  'src/stack/plan.ts',
  'src/stack/settings.ts',
  'src/stack/state-paths.ts',
  'src/stores/checks.ts',
  'src/stores/migration.ts',
  'src/stores/secrets.ts',
  'src/stores/uri.ts',
  'src/tls/plan.ts',
  'src/users/htpasswd.ts',
  'src/users/tokens.ts',
  'src/users/user-name.ts',
  'src/system/windows-programs.ts',
];
/** Modules of ours without effects that pure ones may use besides each other. */
const NEUTRAL_MODULES = ['src/errors.ts', 'src/defaults.ts'];
/** Packages and Node modules that reach the disk, processes or the machine. */
const EFFECTFUL_PACKAGES = [
  ...['fs', 'fs/promises', 'child_process', 'os'].flatMap((m) => [m, `node:${m}`]),
  'execa',
  'tree-kill',
  'get-port',
  'open',
  'proper-lockfile',
  'wait-on',
];
/** Every other module of ours counts as effectful (system/processes, files, folders, run-once...). */
const EFFECTFUL_MODULES = readdirSync(fileURLToPath(new URL('src', import.meta.url)), {
  recursive: true,
  encoding: 'utf8',
})
  .map((f) => path.posix.join('src', f.split(path.sep).join('/')))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .filter((f) => !PURE_MODULES.includes(f) && !NEUTRAL_MODULES.includes(f));

const PURE_MESSAGE =
  'A pure module (PURE_MODULES in eslint.config.js) takes what this would read or run as an argument; `import type` is allowed';

/**
 * The rule for one pure module: our effectful modules by the exact specifier it would write.
 * @param {string} file
 */
function purityRule(file) {
  const specifier = (target) => {
    const rel = path.posix.relative(path.posix.dirname(file), target).replace(/\.ts$/, '.js');
    return rel.startsWith('.') ? rel : `./${rel}`;
  };
  const names = [...EFFECTFUL_PACKAGES, ...EFFECTFUL_MODULES.map(specifier)];
  return {
    files: [file],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: names.map((name) => ({ name, message: PURE_MESSAGE, allowTypeImports: true })) },
      ],
      // A dynamic import() or `process` would reach the same effects past the rule above.
      'no-restricted-syntax': ['error', { selector: 'ImportExpression', message: PURE_MESSAGE }],
      'no-restricted-globals': ['error', { name: 'process', message: PURE_MESSAGE }],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.venv/', '.mlflow-secure/', '.venv-*/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  // Layout is prettier's job (npm run lint runs it): no eslint rule may disagree with it.
  prettier,
  {
    files: ['scripts/**/*.mjs', 'test/fixtures/**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        performance: 'readonly',
        Buffer: 'readonly',
      },
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // With noUncheckedIndexedAccess, `match[1]!` after a successful regex test is the honest form.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Environment copies are plain records; deleting a variable by name is the point.
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  ...PURE_MODULES.map(purityRule),
);
