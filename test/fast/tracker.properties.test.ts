/**
 * VfTracker against the naive model (./trackerModel.ts), with fast-check.
 *
 * Random START configurations (1..8 ranges in any order, touching or apart, at bases from 0 to the
 * top of the 64-bit space; requested page sizes 4..64 KiB; device limits that force merging and
 * clamping both ways) and random DMA writes (bytes at any alignment, or 4 KiB page numbers, inside,
 * across and outside the ranges). Then a report into a bitmap whose page size is finer than, equal
 * to, or coarser than the tracker page, over the whole bitmap or an unaligned sub-range, with or
 * without noClear; bitmap bits, stats and the remaining log must all match the model.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, VfTracker } from '@iovabitmap/core';
import { modelMerge, startCaseArb, TrackerModel, writeAt, writesArb, type StartCase, type WriteCase } from './helpers/trackerModel.js';
import { bitsOf } from '../helpers/bitmaps.js';

const RUNS = 150;

/** Starts a tracker and a model on the same case and applies the writes to both. */
function startBoth(c: StartCase, writes: WriteCase[]) {
  const t = new VfTracker({ name: 'vf0', ...c.limits });
  const res = t.start({ ranges: c.ranges, pageSize: 1n << BigInt(c.reqShift) });
  const req = 1n << BigInt(c.reqShift);
  const T = req < c.limits.minPageSize ? c.limits.minPageSize : req > c.limits.maxPageSize ? c.limits.maxPageSize : req;
  const merged = modelMerge(
    c.ranges.map((r) => ({ start: r.iova, end: r.iova + r.length })),
    c.limits.maxRanges,
  );
  const model = new TrackerModel(T, merged);
  const counts: [number, number][] = [];
  for (const w of writes) {
    const lo = writeAt(c, w);
    if (w.pages) {
      const page = Number(lo >> 12n);
      const count = Number((w.len + 4095n) >> 12n);
      counts.push([t.dmaWritePages(page, count), model.write(BigInt(page) << 12n, BigInt(page + count) << 12n)]);
    } else {
      counts.push([t.dmaWrite(lo, w.len), model.write(lo, lo + w.len)]);
    }
  }
  return { t, res, T, merged, model, counts };
}

/**
 * A bitmap around the tracked span with page shift `pShift`, and a clip range inside it: the whole
 * bitmap, or a sub-range whose ends are random or (to catch records straddling them) near a write.
 */
function bitmapFor(c: StartCase, pShift: number, cut: Cut, anchors: readonly bigint[] = []) {
  const P = 1n << BigInt(pShift);
  const lo = c.base === 0n ? 0n : ((c.base - 65536n) / P) * P;
  let hi = ((c.base + (6n << 20n) + P - 1n) / P) * P;
  if (hi > 1n << 64n) hi = 1n << 64n;
  const bm = new IovaBitmap({ iova: lo, length: hi - lo, pageSize: P });
  if (!cut.sub) return { bm, cl: lo, ch: hi };
  const span = hi - lo;
  const pick = (v: bigint, near: boolean) => {
    const at = near && anchors.length > 0 ? anchors[Number(v % BigInt(anchors.length))]! + (v % 70_000n) : lo + (v % span);
    return at < lo ? lo : at > hi ? hi : at;
  };
  let a = pick(cut.a, cut.nearA);
  let b = pick(cut.b, cut.nearB);
  if (a > b) [a, b] = [b, a];
  if (a === b) {
    if (b < hi) b += 1n;
    else a -= 1n;
  }
  return { bm, cl: a, ch: b };
}

/** The first byte of each write, as startBoth computes it. */
const anchorsOf = (c: StartCase, writes: WriteCase[]) => writes.map((w) => writeAt(c, w));

interface Cut {
  a: bigint;
  b: bigint;
  sub: boolean;
  nearA: boolean;
  nearB: boolean;
}
const cutArb: fc.Arbitrary<Cut> = fc.record({
  a: fc.bigInt({ min: 0n, max: 1n << 40n }),
  b: fc.bigInt({ min: 0n, max: 1n << 40n }),
  sub: fc.boolean(),
  nearA: fc.boolean(),
  nearB: fc.boolean(),
});

describe('VfTracker start and dmaWrite against the model', () => {
  it('returns the model merge and clamped page size, logs the model pages and counts', () => {
    fc.assert(
      fc.property(startCaseArb(), writesArb, (c, writes) => {
        const { t, res, T, merged, model, counts } = startBoth(c, writes);
        expect(res.pageSize).toBe(T);
        expect(t.pageSize).toBe(T);
        expect(res.ranges).toEqual(merged.map((r) => ({ iova: r.start, length: r.end - r.start })));
        expect(t.ranges).toEqual(res.ranges);
        for (const [got, want] of counts) expect(got).toBe(want);
        expect(t.recordedPages()).toEqual(model.sorted());
      }),
      { numRuns: RUNS },
    );
  });

  it('logs writes like the model with more than 8 tracked ranges (where a write binary-searches them)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.integer({ min: 1, max: 3 }), len: fc.integer({ min: 1, max: 3 }) }), { minLength: 9, maxLength: 24 }),
        fc.array(fc.record({ page: fc.integer({ min: 0, max: 200 }), count: fc.integer({ min: 1, max: 24 }) }), { maxLength: 30 }),
        (pieces, writes) => {
          let at = 0;
          const ranges = pieces.map(({ gap, len }) => {
            const r = { iova: BigInt(at + gap) << 12n, length: BigInt(len) << 12n };
            at += gap + len;
            return r;
          });
          const t = new VfTracker({ name: 'vf0', maxRanges: 32 });
          t.start({ ranges, pageSize: 4096 });
          const model = new TrackerModel(4096n, ranges.map((r) => ({ start: r.iova, end: r.iova + r.length })));
          for (const w of writes) expect(t.dmaWritePages(w.page, w.count)).toBe(model.write(BigInt(w.page) << 12n, BigInt(w.page + w.count) << 12n));
          expect(t.recordedPages()).toEqual(model.sorted());
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('VfTracker readAndClearDirty against the model', () => {
  const relations = [
    { name: 'finer than', minShiftLo: 14, d: (tShift: number, k: number) => Math.max(12, tShift - 1 - (k % 3)) },
    { name: 'equal to', minShiftLo: 12, d: (tShift: number) => tShift },
    { name: 'coarser than', minShiftLo: 12, d: (tShift: number, k: number) => tShift + 1 + (k % 4) },
  ];
  for (const rel of relations) {
    it(`reports bit for bit when the bitmap page is ${rel.name} the tracker page`, () => {
      fc.assert(
        fc.property(startCaseArb({ minShiftLo: rel.minShiftLo }), writesArb, fc.nat(), cutArb, fc.boolean(), (c, writes, k, cut, noClear) => {
          const { t, T, model } = startBoth(c, writes);
          const tShift = T.toString(2).length - 1;
          const pShift = rel.d(tShift, k);
          if (rel.name === 'finer than') expect(pShift).toBeLessThan(tShift);
          const { bm, cl, ch } = bitmapFor(c, pShift, cut, anchorsOf(c, writes));
          const stats = t.readAndClearDirty(bm, cl, ch - cl, { noClear });
          const want = model.report(bm.iova, pShift, cl, ch, noClear);
          expect([...bitsOf(bm)].sort((x, y) => x - y)).toEqual([...want.bits].sort((x, y) => x - y));
          expect(stats.dirtyLeaves).toBe(want.leaves);
          expect(stats.bitsMarked).toBe(want.marked);
          expect(t.recordedPages()).toEqual(model.sorted());
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('noClear leaves the log intact and a second report sets the same bits', () => {
    fc.assert(
      fc.property(startCaseArb(), writesArb, fc.integer({ min: 12, max: 20 }), cutArb, (c, writes, pShift, cut) => {
        const { t, model } = startBoth(c, writes);
        const before = t.recordedPages();
        const { bm, cl, ch } = bitmapFor(c, pShift, cut, anchorsOf(c, writes));
        t.readAndClearDirty(bm, cl, ch - cl, { noClear: true });
        expect(t.recordedPages()).toEqual(before);
        const again = new IovaBitmap({ iova: bm.iova, length: bm.length, pageSize: bm.pageSize });
        t.readAndClearDirty(again, cl, ch - cl);
        expect(again.equals(bm)).toBe(true);
        model.report(bm.iova, pShift, cl, ch, false);
        expect(t.recordedPages()).toEqual(model.sorted());
      }),
      { numRuns: RUNS },
    );
  });
});

describe('VfTracker reportChunk: any chunking equals one readAndClearDirty', () => {
  it('tiles of the clip range, reported in random order, give the same bitmap, stats and log', () => {
    fc.assert(
      fc.property(
        startCaseArb(),
        writesArb,
        fc.integer({ min: 12, max: 20 }),
        cutArb,
        fc.array(fc.bigInt({ min: 0n, max: 1n << 40n }), { maxLength: 12 }),
        fc.integer(),
        fc.boolean(),
        (c, writes, pShift, cut, cutPoints, seed, noClear) => {
          const a = startBoth(c, writes).t;
          const b = startBoth(c, writes).t;
          const { bm: bmA, cl, ch } = bitmapFor(c, pShift, cut, anchorsOf(c, writes));
          const bmB = new IovaBitmap({ iova: bmA.iova, length: bmA.length, pageSize: bmA.pageSize });
          const inner = [...new Set(cutPoints.map((p) => cl + (p % (ch - cl))).filter((p) => p > cl))].sort((x, y) => (x < y ? -1 : 1));
          const edges = [cl, ...inner, ch];
          const chunks = edges.slice(1).map((hi, i) => ({ chunkLo: edges[i]!, chunkHi: hi, clipLo: cl, clipHi: ch }));
          const order = fc.sample(fc.shuffledSubarray(chunks, { minLength: chunks.length, maxLength: chunks.length }), { seed, numRuns: 1 })[0]!;
          a.checkReport(bmA, cl, ch - cl);
          let leaves = 0;
          let marked = 0;
          for (const ch1 of order) {
            const s = a.reportChunk(bmA, ch1, { noClear });
            leaves += s.dirtyLeaves;
            marked += s.bitsMarked;
          }
          const one = b.readAndClearDirty(bmB, cl, ch - cl, { noClear });
          expect(bmA.equals(bmB)).toBe(true);
          expect(leaves).toBe(one.dirtyLeaves);
          expect(marked).toBe(one.bitsMarked);
          expect(a.recordedPages()).toEqual(b.recordedPages());
        },
      ),
      { numRuns: RUNS },
    );
  });
});
