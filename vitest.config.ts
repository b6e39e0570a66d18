/**
 * Two projects:
 * - `fast`: unit, property and small multi-thread tests, and the packed packages installed in a
 *   project of their own; the whole project stays under a minute or two on 2 cores. It builds the
 *   packages once before its files start (test/helpers/buildOnce.ts).
 * - `stress`: race hunting against the real pool and device simulator (test/stress); each test
 *   prints its seed. `STRESS_SCALE` (default 1) multiplies rounds for longer soaks.
 *
 * Workers are plain Node: tests run the TypeScript sources through the private `@iovabitmap/source`
 * export condition (see packages/*\/package.json; it is not published) and the pool starts its
 * workers with `--import tsx`.
 */
import { configDefaults, defineConfig } from 'vitest/config';

const shared = {
  // Run from source: the `@iovabitmap/source` condition points package exports at src/*.ts.
  ssr: { resolve: { conditions: ['@iovabitmap/source'] } },
};

export default defineConfig({
  ...shared,
  test: {
    pool: 'forks',
    execArgv: ['--no-lazy-feedback-allocation'],
    projects: [
      {
        extends: true,
        test: {
          name: 'fast',
          include: ['test/fast/**/*.test.ts'],
          globalSetup: ['test/helpers/buildOnce.ts'],
          exclude: [...configDefaults.exclude, 'test/stress/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'stress',
          include: ['test/stress/**/*.test.ts'],
          exclude: [...configDefaults.exclude],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
