/**
 * The scalar C reference of the walk benchmark (packages/bench/native/ptewalk.c, built by
 * packages/bench/src/harness/nativeWalk.ts): it walks a table with exactly the dirty leaves the JS
 * benchmark's seed rule makes, checks itself, and names its best kernel; without a compiler the
 * build returns a note instead. The run tests are skipped where no C compiler is found.
 */
import { describe, expect, it } from 'vitest';
import { buildNativeWalk, runNativeWalk } from '@iovabitmap/bench/internal';
import { createRng } from '@iovabitmap/workers/internal';

/** Dirty leaves among `pages` by the benchmark's rule (pteWalk.bench.ts `dirty`). */
function jsDirtyCount(pages: number, density: number, seed: number): number {
  if (density >= 1) return pages;
  const r = createRng(seed);
  let n = 0;
  for (let p = 0; p < pages; p++) if (r.float() < density) n++;
  return n;
}

const built = buildNativeWalk();

describe('the C reference walk', () => {
  it('says why there is no C column when no compiler runs', () => {
    const none = buildNativeWalk(['/nonexistent/cc', 'no-such-compiler-here']);
    expect(none).toEqual({ kind: 'none', note: expect.stringContaining('no C compiler found (tried /nonexistent/cc, no-such-compiler-here)') });
  });

  it.skipIf(built.kind !== 'native')('walks the dirty leaves of the JS seed rule with every kernel and reports the best', () => {
    if (built.kind !== 'native') return;
    expect(built.flags).toContain('-O2');
    const pages = 512 * 48;
    for (const [density, seed] of [[0, 5], [0.01, 0x9e3779b9], [0.5, 0x9e3779ba], [1, 7]] as const) {
      const r = runNativeWalk(built, pages, density, seed, 1);
      expect(r.dirty).toBe(jsDirtyCount(pages, density, seed));
      expect(Object.keys(r.kernels)).toEqual(['bit', 'word', 'mask']);
      const medians = Object.values(r.kernels).map((k) => k.median);
      expect(r.bestNs).toBe(Math.min(...medians));
      expect(r.kernels[r.best]!.median).toBe(r.bestNs);
    }
  });

  it.skipIf(built.kind !== 'native')('refuses a table that is not whole leaf tables', () => {
    if (built.kind !== 'native') return;
    expect(() => runNativeWalk(built, 1000, 0.5, 1, 1)).toThrow();
  });
});
