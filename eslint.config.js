// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.venv/', '.mlflow-secure/', 'coverage/'] },
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
);
