import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The MLflow version matrix has its own script and config (npm run test:versions).
    exclude: ['test/versions/**', '**/node_modules/**'],
    // End-to-end files start real MLflow + nginx stacks; on a 2-core machine running
    // them one file at a time keeps start-up times (and timeouts) predictable.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
