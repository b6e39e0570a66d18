/**
 * How VfTracker.start fits a request to the device: merging (vfio_combine_iova_ranges), page size
 * clamping, and the span limit. Properties are stated on their own terms (coverage, order, which
 * gaps were closed) and also checked against the model merge of ./trackerModel.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VfTracker } from '@iovabitmap/core';
import { combineIovaRanges } from '@iovabitmap/core/internal';
import { modelMerge, type Iv } from './helpers/trackerModel.js';
import { rejection } from '../helpers/rejection.js';

/** Sorted disjoint intervals (touching allowed) from gaps and lengths, in 4 KiB units. */
const intervalsArb = (maxLength: number) =>
  fc
    .array(fc.record({ gap: fc.integer({ min: 0, max: 50 }), len: fc.integer({ min: 1, max: 50 }) }), { minLength: 1, maxLength })
    .map((ps) => {
      let at = 0n;
      return ps.map(({ gap, len }) => {
        const start = at + BigInt(gap) * 4096n;
        at = start + BigInt(len) * 4096n;
        return { start, end: at };
      });
    });

/** Checks the merging properties of `out` for input `input` and device limit `max`. */
function expectGoodMerge(input: readonly Iv[], out: readonly Iv[], max: number): void {
  expect(out.length).toBe(Math.min(input.length, max));
  for (let i = 1; i < out.length; i++) expect(out[i]!.start).toBeGreaterThanOrEqual(out[i - 1]!.end);
  // Every original range lies inside one merged range, and merged edges are original edges.
  for (const r of input) expect(out.some((m) => m.start <= r.start && r.end <= m.end)).toBe(true);
  for (const m of out) {
    expect(input.some((r) => r.start === m.start)).toBe(true);
    expect(input.some((r) => r.end === m.end)).toBe(true);
  }
  // Smallest gap first: every gap that was closed is no larger than every gap that remains.
  const gaps = input.slice(1).map((r, i) => ({ gap: r.start - input[i]!.end, closed: !out.some((m) => m.start === r.start) }));
  const closed = gaps.filter((g) => g.closed).map((g) => g.gap);
  const open = gaps.filter((g) => !g.closed).map((g) => g.gap);
  if (closed.length > 0 && open.length > 0) {
    const maxClosed = closed.reduce((a, b) => (a > b ? a : b));
    const minOpen = open.reduce((a, b) => (a < b ? a : b));
    expect(maxClosed).toBeLessThanOrEqual(minOpen);
  }
}

describe('merging ranges to the device limit', () => {
  it('keeps every range covered, yields <= maxRanges sorted disjoint ranges, closes the smallest gaps', () => {
    fc.assert(
      fc.property(intervalsArb(40), fc.integer({ min: 1, max: 12 }), (input, max) => {
        const out = combineIovaRanges(input, max);
        expectGoodMerge(input, out, max);
        expect(out).toEqual(modelMerge(input, max));
      }),
      { numRuns: 300 },
    );
  });

  it('merges the pair with the smallest gap, the leftmost on a tie', () => {
    const r = (a: number, b: number) => ({ start: BigInt(a) * 4096n, end: BigInt(b) * 4096n });
    // gaps: 5, 2, 2, 9 -> with max 4 the first gap of size 2 (between ranges 1 and 2) closes.
    const input = [r(0, 1), r(6, 7), r(9, 10), r(12, 13), r(22, 23)];
    expect(combineIovaRanges(input, 4)).toEqual([r(0, 1), r(6, 10), r(12, 13), r(22, 23)]);
    expect(combineIovaRanges(input, 3)).toEqual([r(0, 1), r(6, 13), r(22, 23)]);
    expect(combineIovaRanges(input, 1)).toEqual([r(0, 23)]);
    expect(input).toHaveLength(5); // input untouched
  });

  it('start() applies the merge to ranges given in any order, and handles the VFIO maximum of 256', () => {
    fc.assert(
      fc.property(intervalsArb(256), fc.integer({ min: 1, max: 256 }), fc.integer(), (input, max, seed) => {
        const given = fc.sample(fc.shuffledSubarray(input, { minLength: input.length, maxLength: input.length }), { seed, numRuns: 1 })[0]!;
        const t = new VfTracker({ maxRanges: max });
        const res = t.start({ pageSize: 4096, ranges: given.map((g) => ({ iova: g.start, length: g.end - g.start })) });
        const out = res.ranges.map((m) => ({ start: m.iova, end: m.iova + m.length }));
        expectGoodMerge(input, out, max);
      }),
      { numRuns: 40 },
    );
  });
});

describe('tracker page size', () => {
  it('is the requested size clamped to [minPageSize, maxPageSize], reported back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 12, max: 40 }), fc.integer({ min: 12, max: 40 }), fc.integer({ min: 0, max: 10 }), (req, min, extra) => {
        const t = new VfTracker({ minPageSize: 1n << BigInt(min), maxPageSize: 1n << BigInt(min + extra), maxSpanLog2: 64 });
        const requested = 1n << BigInt(req);
        const res = t.start({ pageSize: requested, ranges: [{ iova: requested * 3n, length: requested }] });
        const want = 2n ** BigInt(Math.min(Math.max(req, min), min + extra));
        expect(res.pageSize).toBe(want);
        expect(t.pageSize).toBe(want);
      }),
    );
  });

  it('defaults to the device range 4 KiB..1 GiB', () => {
    const t = new VfTracker();
    expect(t.start({ pageSize: 1n << 31n, ranges: [{ iova: 0, length: 1n << 31n }] }).pageSize).toBe(1n << 30n);
    t.stop();
    expect(t.start({ pageSize: 8192, ranges: [{ iova: 0, length: 8192 }] }).pageSize).toBe(8192n);
  });
});

describe('address-space limits (mlx5: log2 of the total length of the merged ranges, rounded up)', () => {
  it('accepts a total within [2^(minSpanLog2 - 1), 2^maxSpanLog2] after merging, rejects others with EOPNOTSUPP and stays stopped', () => {
    fc.assert(
      fc.property(intervalsArb(10), fc.integer({ min: 12, max: 16 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 1, max: 4 }), (input, lo, extra, max) => {
        const hiLog2 = lo + extra;
        const t = new VfTracker({ minSpanLog2: lo, maxSpanLog2: hiLog2, maxRanges: max });
        const total = modelMerge(input, max).reduce((n, g) => n + g.end - g.start, 0n);
        const ranges = input.map((g) => ({ iova: g.start, length: g.end - g.start }));
        // log2 rounded up lies in [lo, hiLog2] exactly when 2^(lo - 1) < total <= 2^hiLog2.
        if (total > 1n << BigInt(lo - 1) && total <= 1n << BigInt(hiLog2)) {
          expect(t.start({ pageSize: 4096, ranges }).ranges.length).toBeLessThanOrEqual(max);
        } else {
          const e = rejection(() => t.start({ pageSize: 4096, ranges }));
          expect(e.code).toBe('EOPNOTSUPP');
          expect(e.param).toBe('ranges');
          expect(e.message).toContain(String(total));
          expect(e.message).toContain(`[${lo}, ${hiLog2}]`);
          expect(t.started).toBe(false);
          expect(t.pageSize).toBe(0n);
        }
      }),
      { numRuns: 200 },
    );
  });
});
