import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts', 'tests/support/**/*.test.ts'],
          globalSetup: ['tests/support/global-setup.ts'],
          // The suites share two servers on a 2-core machine and restart them on purpose.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // Property-based tests of the wire (docs/fuzzing.md): a fixed seed by default, FUZZ_SEED
          // and FUZZ_RUNS for a longer random run, which is why a property may take minutes.
          name: 'fuzz',
          include: ['tests/fuzz/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
