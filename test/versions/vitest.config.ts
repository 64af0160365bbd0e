import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// `npm run test:versions`: the version matrix, one real MLflow per version in its own venv
// (cached outside the repository, made on first use), kept out of `npm test`'s budget.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/versions/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    // The first run makes the venvs (pip, several minutes on a busy machine).
    hookTimeout: 1_200_000,
    reporters: ['default'],
  },
});
