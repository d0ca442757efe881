import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Test files isolate their data (own tenant and queue prefix), so they run in parallel.
    fileParallelism: true,
    pool: 'forks',
  },
});
