/**
 * Where the dirty units of a synthetic workload go: a deterministic stream of runs.
 *
 * Theory of operation
 * -------------------
 * A workload has n *units* (leaf PTEs of the page table, or tracker pages) and a density d. The
 * placement calls `mark(first, count)` for disjoint runs of units in increasing order:
 * - `uniform`: each unit is dirty independently with probability d (a Bernoulli process). Instead
 *   of one draw per unit, the gap before the next dirty unit is drawn from the geometric
 *   distribution, floor(ln(u) / ln(1 − d)), which gives the same process in O(dirty units);
 *   neighbouring dirty units are merged into one run.
 * - `clustered`: runs whose length is uniform in [1, 2C − 1] (mean C = {@link CLUSTER_UNITS}),
 *   separated by gaps drawn from an exponential distribution with mean C(1 − d)/d, rounded down.
 *   The expected fraction of dirty units is d (up to the rounding of the gaps and the clip at n);
 *   the exact count is returned.
 * d = 0 marks nothing and d = 1 marks everything, exactly, for both patterns.
 *
 * The generator is the project's seeded sfc32 (@iovabitmap/workers `createRng`, the device
 * simulator's), so the whole stream is a pure function of (n, d, pattern, seed) on every host.
 */
import { IovaBitmapError } from '@iovabitmap/core';
import { createRng } from '@iovabitmap/workers/internal';
import type { DirtyPattern } from '../output/schema.js';

/** Mean run length of the `clustered` pattern, units (64: one 64-bit bitmap word at 4 KiB leaves). */
export const CLUSTER_UNITS = 64;

/**
 * Calls `mark(first, count)` for each run of dirty units in [0, n), in increasing order, runs
 * disjoint and not adjacent.
 * @param n - number of units (a safe integer)
 * @param density - fraction in [0, 1]
 * @param pattern - placement
 * @param seed - generator seed
 * @param mark - receives each run
 * @returns the number of dirty units
 */
export function placeDirty(n: number, density: number, pattern: DirtyPattern, seed: number, mark: (first: number, count: number) => void): number {
  if (!(density >= 0 && density <= 1)) throw IovaBitmapError.bad('EINVAL', 'placeDirty', 'density', density, 'must lie in [0, 1]');
  if (density === 0 || n <= 0) return 0;
  if (density === 1) {
    mark(0, n);
    return n;
  }
  const { float: rand } = createRng(seed);
  // 1 - rand() lies in (0, 1], so the logarithms below are finite.
  const gap =
    pattern === 'uniform'
      ? ((lnKeep) => () => Math.floor(Math.log(1 - rand()) / lnKeep))(Math.log1p(-density))
      : ((mean) => () => Math.floor(-Math.log(1 - rand()) * mean))((CLUSTER_UNITS * (1 - density)) / density);
  const runLength = pattern === 'uniform' ? () => 1 : () => 1 + Math.floor(rand() * (2 * CLUSTER_UNITS - 1));
  let dirty = 0;
  let runStart = -1;
  let runEnd = -1;
  let p = gap();
  while (p < n) {
    const end = Math.min(n, p + runLength());
    if (p === runEnd) {
      runEnd = end;
    } else {
      if (runStart >= 0) mark(runStart, runEnd - runStart);
      runStart = p;
      runEnd = end;
    }
    dirty += end - p;
    p = end + gap();
  }
  if (runStart >= 0) mark(runStart, runEnd - runStart);
  return dirty;
}
