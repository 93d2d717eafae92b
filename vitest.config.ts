import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Engine tests are CPU-heavy; two workers match the CI machine's cores.
    pool: 'forks',
    maxWorkers: 2,
  },
});
