/**
 * Properties of IoPageTable against an independent model (./helpers/pagetableHelpers.ts
 * LeafModel): random map / unmap / device-write / tracking / report sequences for every format
 * and leaf size, reports compared bit for bit; any chunking of a report equals one whole-range
 * report; the window-by-window reference reporter equals one whole-range report, with huge
 * leaves across window edges (small windows here, the real 64 GiB window in the last test).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IovaBitmap, reportDirty } from '@iovabitmap/core';
import { IoPageTable, LEAF_SIZES, LeafModel, PTE_FORMATS, bitRuns, bitsOfPageRuns, sameBytes, snapshotTable, type PteFormat } from './helpers/pagetableHelpers.js';
import { GIB, GiB } from '../helpers/sizes.js';

const UNIVERSE_PAGES = 2 ** 20; // 4 GiB of IOVA
const PAGE_SIZES = [2048, 4096, 8192];

type Op =
  | { t: 'map'; size: number; slot: number; count: number; writable: boolean }
  | { t: 'unmap'; a: number; b: number; align: number }
  | { t: 'write'; pick: number; off: number; len: number }
  | { t: 'track'; on: boolean }
  | { t: 'report'; pick: number; a: number; b: number; ps: number; noClear: boolean; wide: boolean };

const nat = fc.nat();
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('map' as const), size: nat, slot: nat, count: fc.integer({ min: 1, max: 6 }), writable: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('unmap' as const), a: nat, b: nat, align: nat }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('write' as const), pick: nat, off: nat, len: nat }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('track' as const), on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('report' as const), pick: nat, a: nat, b: nat, ps: nat, noClear: fc.boolean(), wide: fc.boolean() }) },
);

const code = (c: string) => expect.objectContaining({ name: 'IovaBitmapError', code: c });

/** Picks [a, b) aligned to `unit` pages inside [lo, hi), or undefined when it has no room. */
function subRange(lo: number, hi: number, unit: number, x: number, y: number): [number, number] | undefined {
  const l = Math.ceil(lo / unit);
  const h = Math.floor(hi / unit);
  if (h <= l) return undefined;
  const a = l + (x % (h - l));
  const b = a + 1 + (y % (h - a));
  return [a * unit, b * unit];
}

function apply(pt: IoPageTable, m: LeafModel, op: Op, sizes: readonly number[]): void {
  if (op.t === 'map') {
    const pages = sizes[op.size % sizes.length]! / 4096;
    const slots = UNIVERSE_PAGES / pages;
    const s = (op.slot % slots) * pages;
    const e = s + Math.min(op.count, (UNIVERSE_PAGES - s) / pages) * pages;
    if (m.overlaps(s, e)) {
      expect(() => pt.map(s * 4096, (e - s) * 4096, { leaf: pages * 4096, writable: op.writable })).toThrow(code('EINVAL'));
    } else {
      pt.map(s * 4096, (e - s) * 4096, { leaf: pages * 4096, writable: op.writable });
      m.map(s, e, pages, op.writable);
    }
  } else if (op.t === 'unmap') {
    const unit = sizes[op.align % sizes.length]! / 4096;
    const [a, b] = subRange(0, UNIVERSE_PAGES, unit, op.a, op.b)!;
    if (m.cuts(a, b)) {
      expect(() => pt.unmap(a * 4096, (b - a) * 4096)).toThrow(code('EINVAL'));
    } else {
      pt.unmap(a * 4096, (b - a) * 4096);
      m.unmap(a, b);
    }
  } else if (op.t === 'write') {
    const l = m.leaves[op.pick % Math.max(1, m.leaves.length)];
    const from = l === undefined ? op.off % (UNIVERSE_PAGES * 4096) : l.start * 4096 + (op.off % (l.pages * 4096));
    const len = Math.min(1 + (op.len % (3 * (l?.pages ?? 16) * 4096)), UNIVERSE_PAGES * 4096 - from);
    expect(pt.dmaWrite(from, len)).toBe(m.write(Math.floor(from / 4096), Math.floor((from + len - 1) / 4096) + 1));
  } else if (op.t === 'track') {
    pt.setDirtyTracking(op.on);
    m.tracking = op.on;
    if (op.on) for (const l of m.leaves) l.dirty = false;
  } else {
    const ps = PAGE_SIZES[op.ps % PAGE_SIZES.length]!;
    const unit = Math.max(ps, 4096) / 4096;
    const cover = m.coverage();
    const run = cover[op.pick % Math.max(1, cover.length)];
    const r = (!op.wide && run !== undefined && subRange(run[0], run[1], unit, op.a, op.b)) || subRange(0, UNIVERSE_PAGES, unit, op.a, op.b)!;
    const [a, b] = r;
    const pad = a > 0 ? ps : 0;
    const bm = new IovaBitmap({ iova: a * 4096 - pad, length: (b - a) * 4096 + pad + ps, pageSize: ps });
    const call = () => pt.readAndClearDirty(bm, a * 4096, (b - a) * 4096, { noClear: op.noClear });
    const hole = m.hole(a, b);
    if (!m.tracking) {
      expect(call).toThrow(code('EINVAL'));
    } else if (hole >= 0) {
      expect(call).toThrow(expect.objectContaining({ code: 'ENOENT', value: expect.stringContaining(`(0x${(hole * 4096).toString(16)})`) }));
    } else {
      call();
      expect(bitRuns(bm)).toEqual(bitsOfPageRuns(bm, m.report(a, b, op.noClear)));
    }
  }
  const st = pt.memoryStats();
  expect(st.leaves).toBe(m.leaves.length);
  expect(st.mappedBytes).toBe(BigInt(m.leaves.reduce((n, l) => n + l.pages, 0)) * 4096n);
}

describe.each(PTE_FORMATS)('IoPageTable %s against the model', (format) => {
  it('map / unmap / dmaWrite / tracking / report sequences match bit for bit', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const pt = new IoPageTable({ format });
        const m = new LeafModel();
        pt.setDirtyTracking(true);
        m.tracking = true;
        for (const op of ops) apply(pt, m, op, LEAF_SIZES[format]);
      }),
      { numRuns: 100 },
    );
  });
});

/** A fully mapped range [0, end) of mixed leaf sizes (alignment gaps filled greedily), some dirty. */
function buildTable(format: PteFormat, layout: { size: number; count: number }[], writes: { page: number; len: number }[]) {
  const pt = new IoPageTable({ format });
  const model = new LeafModel();
  const sizes = LEAF_SIZES[format];
  let cursor = 0;
  for (const piece of layout) {
    const pages = sizes[piece.size % sizes.length]! / 4096;
    const aligned = Math.ceil(cursor / pages) * pages;
    while (cursor < aligned) {
      // Fill the gap greedily with the largest leaf that is aligned and fits (as iommu_map does).
      const fit = [...sizes].reverse().map((b) => b / 4096).find((q) => cursor % q === 0 && cursor + q <= aligned)!;
      const n = Math.floor((aligned - cursor) / fit) > 0 && fit === 1 ? Math.min(aligned - cursor, 512 - (cursor % 512)) : 1;
      pt.map(cursor * 4096, n * fit * 4096, { leaf: fit * 4096 });
      model.map(cursor, cursor + n * fit, fit, true);
      cursor += n * fit;
    }
    pt.map(aligned * 4096, piece.count * pages * 4096, { leaf: pages * 4096 });
    model.map(aligned, aligned + piece.count * pages, pages, true);
    cursor = aligned + piece.count * pages;
  }
  pt.setDirtyTracking(true);
  model.tracking = true;
  for (const w of writes) {
    const p = w.page % cursor;
    const n = Math.min(1 + (w.len % 8), cursor - p);
    expect(pt.dmaWritePages(p, n)).toBe(model.write(p, p + n));
  }
  return { pt, end: cursor, model };
}

const layoutArb = fc.array(fc.record({ size: nat, count: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 6 });
const writesArb = fc.array(fc.record({ page: nat, len: nat }), { maxLength: 30 });

describe.each(PTE_FORMATS)('IoPageTable %s chunked and windowed reports', (format) => {
  it('any chunking, in any order, gives the bitmap and table state of one whole-range report', () => {
    fc.assert(
      fc.property(layoutArb, writesArb, fc.array(nat, { maxLength: 12 }), nat, nat, nat, fc.boolean(), (layout, writes, cuts, x, y, psi, noClear) => {
        const A = buildTable(format, layout, writes);
        const B = buildTable(format, layout, writes);
        const ps = PAGE_SIZES[psi % 2]!; // 2048 or 4096: chunk edges need not be 4 KiB-aligned
        const [a, b] = subRange(0, A.end, 1, x, y)!;
        const lo = BigInt(a) * 4096n;
        const hi = BigInt(b) * 4096n;
        const bmA = new IovaBitmap({ iova: lo, length: hi - lo, pageSize: ps });
        const bmB = new IovaBitmap({ iova: lo, length: hi - lo, pageSize: ps });
        const whole = A.pt.readAndClearDirty(bmA, lo, hi - lo, { noClear });
        expect(bitRuns(bmA)).toEqual(bitsOfPageRuns(bmA, A.model.report(a, b, noClear)));
        B.pt.checkReport(bmB, lo, hi - lo, { noClear });
        const units = Number((hi - lo) / BigInt(ps));
        const edges = [...new Set([0, units, ...cuts.map((c) => c % units)])].sort((p, q) => p - q);
        const chunks = edges.slice(1).map((e, i) => ({ chunkLo: lo + BigInt(edges[i]! * ps), chunkHi: lo + BigInt(e * ps), clipLo: lo, clipHi: hi }));
        const order = chunks.map((c, i) => ({ c, key: cuts[i] ?? i })).sort((p, q) => p.key - q.key);
        let dirtyLeaves = 0;
        for (const { c } of order) dirtyLeaves += B.pt.reportChunk(bmB, c, { noClear }).dirtyLeaves;
        expect(bmB.equals(bmA)).toBe(true);
        expect(dirtyLeaves).toBe(whole.dirtyLeaves);
        expect(sameBytes(snapshotTable(B.pt), snapshotTable(A.pt))).toBe(true);
      }),
      { numRuns: 120 },
    );
  });

  it('reportDirty window by window equals one readAndClearDirty (huge leaves across window edges)', () => {
    fc.assert(
      fc.property(layoutArb, writesArb, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 8191 }), nat, nat, nat, fc.boolean(), (layout, writes, windowPages, byteOffset, x, y, psi, noClear) => {
        const A = buildTable(format, layout, writes);
        const B = buildTable(format, layout, writes);
        const ps = PAGE_SIZES[psi % 2]!;
        const [a, b] = subRange(0, A.end, 1, x, y)!;
        const length = BigInt(b - a) * 4096n;
        const buffer = new SharedArrayBuffer(IovaBitmap.bytesFor(length, ps) + byteOffset + 8);
        const bmA = new IovaBitmap({ iova: a * 4096, length, pageSize: ps, buffer, byteOffset, windowPages });
        const bmB = new IovaBitmap({ iova: a * 4096, length, pageSize: ps });
        reportDirty({ bitmap: bmA, sources: [A.pt], noClear });
        B.pt.readAndClearDirty(bmB, a * 4096, length, { noClear });
        expect(bitRuns(bmB)).toEqual(bitsOfPageRuns(bmB, B.model.report(a, b, noClear)));
        expect(Buffer.compare(bmA.snapshot(), bmB.snapshot())).toBe(0);
        expect(sameBytes(snapshotTable(A.pt), snapshotTable(B.pt))).toBe(true);
      }),
      { numRuns: 120 },
    );
  });

  it('a 1 GiB leaf across a real 64 GiB window edge is recorded whole, once', () => {
    const make = () => {
      const pt = new IoPageTable({ format });
      pt.map(0, 128 * GIB, { leaf: GIB });
      pt.setDirtyTracking(true);
      for (const g of [0, 63, 64, 127]) pt.dmaWrite(g * GIB + 12345, 1);
      return pt;
    };
    const A = make();
    const B = make();
    const length = 128n * GiB;
    // At byte offset 0xff1 the first window holds 2 MiB - 0xff1 bytes of bitmap: its edge falls
    // at IOVA (2 MiB - 0xff1) * 8 * 4 KiB, inside the leaf [63 GiB, 64 GiB).
    const buffer = new SharedArrayBuffer(IovaBitmap.bytesFor(length, 4096) + 8192);
    const bmA = new IovaBitmap({ iova: 0, length, pageSize: 4096, buffer, byteOffset: 0xff1 });
    const edge = bmA.windows()[1]!.iova;
    expect(edge > 63n * GiB && edge < 64n * GiB).toBe(true);
    const st = reportDirty({ bitmap: bmA, sources: [A] });
    expect(st.total.dirtyLeaves).toBe(4);
    expect(bmA.countBits(63 * 262144, 262144)).toBe(262144);
    expect(bmA.count()).toBe(4 * 262144);
    const bmB = new IovaBitmap({ iova: 0, length, pageSize: 4096 });
    B.readAndClearDirty(bmB, 0, length);
    expect(Buffer.compare(bmA.snapshot(), bmB.snapshot())).toBe(0);
    expect(sameBytes(snapshotTable(A), snapshotTable(B))).toBe(true);
  });
});
