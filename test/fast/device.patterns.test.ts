/**
 * Device write patterns: every run stays inside the region, the stream is a pure function of the
 * seed, and each pattern has its advertised shape (streaming, skew, whole aligned huge leaves).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEVICE_PATTERNS, type DevicePatternName } from '@iovabitmap/workers';
import { createPattern, type PageRun, createRng } from '@iovabitmap/workers/internal';
import { rejection } from '../helpers/rejection.js';

function take(name: DevicePatternName, first: number, count: number, seed: number, n: number, burstPages?: number): PageRun[] {
  const g = createPattern(name, { firstPage: first, pageCount: count }, seed, burstPages === undefined ? {} : { burstPages });
  return Array.from({ length: n }, () => ({ ...g.next() }));
}

describe('device patterns', () => {
  it('keeps every run of every pattern inside the region', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DEVICE_PATTERNS),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.constantFrom(1, 2, 8, 64),
        (name, first, count, seed, burst) => {
          if (name === 'burst' && Math.floor((first + count) / burst) <= Math.ceil(first / burst)) return; // no aligned block
          const outside = take(name, first, count, seed, 200, burst).filter((r) => r.count < 1 || r.page < first || r.page + r.count > first + count);
          expect(outside).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('replays the same runs for the same seed and different runs for another', () => {
    for (const name of DEVICE_PATTERNS) {
      const a = take(name, 1 << 20, 1 << 16, 42, 300);
      expect(take(name, 1 << 20, 1 << 16, 42, 300)).toEqual(a);
      expect(take(name, 1 << 20, 1 << 16, 43, 300)).not.toEqual(a);
    }
  });

  it('streams sequentially in runs of 16 pages and wraps at the region end', () => {
    const runs = take('sequential', 1000, 100, 5, 30);
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1]!;
      const expectedNext = prev.page + prev.count === 1100 ? 1000 : prev.page + prev.count;
      expect(runs[i]!.page).toBe(expectedNext);
      expect(runs[i]!.count).toBe(Math.min(16, 1100 - runs[i]!.page));
    }
  });

  it('writes whole 512-page leaves aligned to 2 MiB for burst, only where a whole leaf fits', () => {
    // Region [700, 700 + 3000): aligned blocks start at 1024, 1536, 2048, 2560, 3072 (ends 3584 <= 3700).
    const seen = new Set<number>();
    for (const r of take('burst', 700, 3000, 9, 500)) {
      expect(r.count).toBe(512);
      expect(r.page % 512).toBe(0);
      seen.add(r.page);
    }
    expect([...seen].sort((x, y) => x - y)).toEqual([1024, 1536, 2048, 2560, 3072]);
  });

  it('concentrates hotset writes on few pages (Zipf-like), unlike uniform', () => {
    const n = 1 << 16;
    const share = (name: DevicePatternName): number => {
      const hits = new Map<number, number>();
      const runs = take(name, 0, n, 11, 50_000);
      for (const r of runs) hits.set(r.page, (hits.get(r.page) ?? 0) + 1);
      const top = [...hits.values()].sort((x, y) => y - x).slice(0, n / 100);
      return top.reduce((s, x) => s + x, 0) / runs.length;
    };
    // Zipf s=1 over 65536 ranks: the top 1% of pages take about ln(656)/ln(65537) ≈ 58% of writes.
    expect(share('hotset')).toBeGreaterThan(0.45);
    expect(share('uniform')).toBeLessThan(0.1); // ~3-4 hits on the busiest pages of 50k uniform draws
  });

  it('rejects an unknown pattern, an empty region, and a burst region without a whole aligned leaf', () => {
    const code = (f: () => unknown): string => rejection(f).code;
    expect(code(() => createPattern('zigzag' as DevicePatternName, { firstPage: 0, pageCount: 10 }, 1))).toBe('EINVAL');
    expect(code(() => createPattern('uniform', { firstPage: 0, pageCount: 0 }, 1))).toBe('EINVAL');
    expect(code(() => createPattern('burst', { firstPage: 100, pageCount: 600 }, 1))).toBe('EINVAL');
    expect(code(() => createPattern('burst', { firstPage: 0, pageCount: 4096 }, 1, { burstPages: 3 }))).toBe('EINVAL');
  });

  it('draws integers uniformly enough and floats in [0, 1)', () => {
    const rng = createRng(1);
    const buckets = new Array<number>(10).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < 100_000; i++) {
      const f = rng.float();
      if (!(f >= 0 && f < 1)) outOfRange++;
      buckets[rng.int(10)]!++;
    }
    expect(outOfRange).toBe(0);
    for (const b of buckets) expect(Math.abs(b - 10_000)).toBeLessThan(600);
  });
});
