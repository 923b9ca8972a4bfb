import { defineConfig } from 'vitest/config';

// Two projects: unit tests need nothing running; integration tests get one AWS emulator for the
// whole run from the global setup (LocalStack by default, moto with DIDIT_TEST_EMULATOR=moto, or
// whatever AWS_ENDPOINT_URL points at) and start their own Didit sandbox.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    // The handlers log JSON lines (audit, EMF); show them only for failing tests.
    silent: 'passed-only',
    pool: 'forks',
    // The explicit local-emulator switch (lib/runtime/config.ts): tests talk to LocalStack or moto over plain
    // http on loopback, which every function refuses without it.
    env: { DIDIT_LOCAL_EMULATOR: '1' },
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/residue/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 240_000,
        },
      },
      {
        extends: true,
        // The packaged zips under the Lambda runtime (infra/local/lambda/): packaged once per run, the
        // emulator from the same global setup. One file at a time (needed while the RIE's Runtime API port was fixed; kept so that files' sandboxes do not share the CPU quota each emulates).
        test: {
          name: 'lambda',
          include: ['test/lambda/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts', 'test/lambda/package-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        extends: true,
        // Property-based fuzzing of every entry point (test/fuzz/README.md): a bounded number of cases per
        // entry point here (FUZZ_RUNS, default 30); `npm run fuzz` runs the long campaign.
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
});
