/**
 * ReportPool.report({ onChunk }): each chunk's recorded runs are handed over while the report
 * runs, and before it settles; together they are exactly the bits the report set (duplicates
 * allowed), every range handed out is in the bitmap, and on an abort the ranges handed out are
 * still in the bitmap. The capturing bitmap (RunCapture) keeps the runs of every write shape.
 */
import { describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, VfTracker, reportDirty } from '@iovabitmap/core';
import { ReportPool, type ReportedChunk } from '@iovabitmap/workers';
import { RunCapture, createRng } from '@iovabitmap/workers/internal';
import { GiB, MiB } from '../helpers/sizes.js';
import { rejectionOf } from '../helpers/rejection.js';

const BASE = 1n << 36n;

function world(seed: number, length = 4n * GiB) {
  const pt = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  pt.map(BASE, length / 2n, { leaf: 4096n });
  pt.map(BASE + length / 2n, length / 2n, { leaf: 2n * MiB });
  pt.setDirtyTracking(true);
  const vf = new VfTracker({ name: 'vf0' });
  vf.start({ ranges: [{ iova: BASE, length }], pageSize: 4096 });
  const rng = createRng(seed);
  for (let i = 0; i < 3000; i++) {
    const page = Number(BASE >> 12n) + rng.int(Number(length >> 12n) - 8);
    const n = 1 + rng.int(8);
    if (rng.int(2) === 0) pt.dmaWritePages(page, n);
    else vf.dmaWritePages(page, n);
  }
  return { pt, vf, bitmap: new IovaBitmap({ iova: BASE, length, pageSize: 4096 }), length };
}

/** Pages of a handed-out chunk's ranges that the bitmap does not hold (4 KiB pages). */
function pagesNotIn(bitmap: IovaBitmap, chunk: ReportedChunk): number {
  let outside = 0;
  for (const r of chunk.ranges()) for (let x = r.iova; x < r.iova + r.length; x += 4096n) if (!bitmap.test(x)) outside++;
  return outside;
}

/**
 * A streamed report expected to fail (abort or injected fault): its error, and how many pages
 * of the ranges handed out before the failure the bitmap does not hold (must be 0).
 */
async function failedStream(
  pool: ReportPool,
  w: ReturnType<typeof world>,
  extra: { signal?: AbortSignal; faultInjection?: { afterChunks: number; mode: 'exit' | 'throw' } },
  onEach: () => void = () => {},
) {
  let outside = 0;
  const e = await rejectionOf(
    pool.report({
      bitmap: w.bitmap,
      sources: [w.pt, w.vf],
      chunkBits: 1 << 12,
      ...extra,
      onChunk: (c) => {
        onEach();
        outside += pagesNotIn(w.bitmap, c);
      },
    }),
  );
  return { e, outside };
}

describe('ReportPool streaming (onChunk)', () => {
  it('hands over every chunk that recorded something before the report settles; the runs are exactly the bits set, each range already in the bitmap', async () => {
    const pool = new ReportPool({ threads: 2, warmUp: false });
    try {
      for (const seed of [1, 2, 3]) {
        const w = world(seed);
        const expected = new IovaBitmap({ iova: BASE, length: w.length, pageSize: 4096 });
        const twin = world(seed);
        reportDirty({ bitmap: expected, sources: [twin.pt, twin.vf] });
        const seen = new IovaBitmap({ iova: BASE, length: w.length, pageSize: 4096 });
        const chunks: ReportedChunk[] = [];
        let outside = 0;
        let settled = false;
        let late = 0;
        const stats = await pool.report({
          bitmap: w.bitmap,
          sources: [w.pt, w.vf],
          chunkBits: 1 << 14,
          onChunk: (c) => {
            if (settled) late++;
            chunks.push(c);
            for (const r of c.ranges()) {
              seen.set(r.iova, r.length);
              for (let x = r.iova; x < r.iova + r.length; x += 4096n) if (!w.bitmap.test(x)) outside++;
            }
          },
        });
        settled = true;
        await new Promise((r) => setTimeout(r, 20));
        expect(late).toBe(0);
        expect(outside).toBe(0);
        expect(seen.equals(w.bitmap)).toBe(true);
        expect(w.bitmap.equals(expected)).toBe(true);
        // Only chunks that recorded something are handed over, each once.
        expect(chunks.length).toBeGreaterThan(0);
        expect(chunks.length).toBeLessThanOrEqual(stats.chunks);
        expect(chunks.every((c) => c.runs.length > 0)).toBe(true);
        expect(new Set(chunks.map((c) => c.chunk)).size).toBe(chunks.length);
        expect(new Set(chunks.map((c) => c.source))).toEqual(new Set(['iommu', 'vf0']));
        // The sources are clean now: the next streamed report hands over nothing and still settles.
        let again = 0;
        const clean = await pool.report({ bitmap: w.bitmap, sources: [w.pt, w.vf], chunkBits: 1 << 14, onChunk: () => void again++ });
        expect(again).toBe(0);
        expect(clean.bitsSet).toBe(0);
      }
    } finally {
      await pool.close();
    }
  });

  it('counts bitsSet exactly as reportDirty does: pieces are counted before their first write, a 1 GiB leaf across pieces included', async () => {
    // The bitmap starts 512 MiB below a 1 GiB leaf, so the leaf (recorded whole by the small chunk
    // owning its start) covers the second half of count piece 0 and the first half of piece 1;
    // bits already set before the report must not count.
    const make = () => {
      const pt = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
      pt.map(BASE - 512n * MiB, 512n * MiB, { leaf: 4096n });
      pt.map(BASE, GiB, { leaf: GiB });
      pt.map(BASE + GiB, 512n * MiB, { leaf: 4096n });
      pt.map(BASE + GiB + 512n * MiB, 2n * GiB, { leaf: 2n * MiB });
      pt.setDirtyTracking(true);
      const vf = new VfTracker({ name: 'vf0' });
      const iova = BASE - 512n * MiB;
      vf.start({ ranges: [{ iova, length: 4n * GiB }], pageSize: 4096 });
      const bitmap = new IovaBitmap({ iova, length: 4n * GiB, pageSize: 4096 });
      const rng = createRng(11);
      for (let i = 0; i < 500; i++) bitmap.setBits(rng.int(bitmap.nbits - 64), 1 + rng.int(64));
      pt.dmaWritePages(Number(BASE >> 12n) + 5, 1);
      for (let i = 0; i < 2000; i++) {
        const page = Number(iova >> 12n) + rng.int(2 ** 20 - 8);
        pt.dmaWritePages(page, 1 + rng.int(4));
        vf.dmaWritePages(page, 1 + rng.int(4));
      }
      return { pt, vf, bitmap };
    };
    const w = make();
    const twin = make();
    const expected = reportDirty({ bitmap: twin.bitmap, sources: [twin.pt, twin.vf] });
    const pool = new ReportPool({ threads: 2, warmUp: false, inlineBelow: 0 });
    try {
      const stats = await pool.report({ bitmap: w.bitmap, sources: [w.pt, w.vf], chunkBits: 1 << 12, onChunk: () => {} });
      expect(w.bitmap.equals(twin.bitmap)).toBe(true);
      expect(expected.bitsSet).toBeGreaterThan(2 ** 18);
      expect(stats.bitsSet).toBe(expected.bitsSet);
    } finally {
      await pool.close();
    }
  });

  it('after an abort, every range handed out is in the bitmap', async () => {
    const pool = new ReportPool({ threads: 2, warmUp: false, inlineBelow: 0 });
    try {
      const w = world(7, 16n * GiB);
      const ac = new AbortController();
      let handed = 0;
      const { e, outside } = await failedStream(pool, w, { signal: ac.signal }, () => {
        if (++handed === 3) ac.abort();
      });
      expect(e.code).toBe('ECANCELED');
      expect(handed).toBeGreaterThanOrEqual(3);
      expect(outside).toBe(0);
    } finally {
      await pool.close();
    }
  });

  it('a worker dying mid-chunk fails the streamed report with EIO; the ranges handed out are in the bitmap, and the next report counts right', async () => {
    const pool = new ReportPool({ threads: 2, warmUp: false });
    try {
      for (const mode of ['exit', 'throw'] as const) {
        const w = world(21);
        const { e, outside } = await failedStream(pool, w, { faultInjection: { afterChunks: 40, mode } });
        expect(e.code).toBe('EIO');
        expect(outside).toBe(0);
        // Report again into the same bitmap: the count pieces of a fresh report start FREE.
        const before = w.bitmap.count();
        const again = await pool.report({ bitmap: w.bitmap, sources: [w.pt, w.vf], chunkBits: 1 << 12, onChunk: () => {} });
        expect(again.bitsSet).toBe(w.bitmap.count() - before);
      }
    } finally {
      await pool.close();
    }
  });

  it('RunCapture keeps the runs of setUnits, set, setBits and orMask, clipped and merged', () => {
    const plain = new IovaBitmap({ iova: 0n, length: 4n * MiB, pageSize: 8192 });
    const c = RunCapture.fromSharedCapturing(plain.share());
    c.setUnits(4, 4, 12); // 4 KiB pages 4..7: bits 2..3
    c.setUnits(8, 2, 12); // bits 4: merged
    c.set(1n << 20n, 20000n); // bits 128..130
    c.setBits(500, 100); // clipped to 512
    c.orMask(200, 0b1011 | (1 << 31)); // bits 200-201, 203, 231
    c.orMask(300, -1 << 28); // one run reaching bit 31: bits 328..331
    c.orMask(400, 0b110); // one run: bits 401..402
    c.orMask(508, 0xff); // one run, clipped: bits 508..511
    expect([...c.take()]).toEqual([2, 3, 128, 3, 500, 12, 200, 2, 203, 1, 231, 1, 328, 4, 401, 2, 508, 4]);
    expect(c.take().length).toBe(0);
    expect(plain.count()).toBe(3 + 3 + 12 + 4 + 4 + 2);
  });

  it('RunCapture.take copies out exactly the runs kept, and keeps its list for the next chunk', () => {
    const plain = new IovaBitmap({ iova: 0n, length: 1n << 30n, pageSize: 4096 });
    const c = RunCapture.fromSharedCapturing(plain.share());
    for (let i = 0; i < 1000; i++) c.setBits(4 * i, 1);
    const many = c.take();
    expect(many.length).toBe(2000);
    expect(many[1998]).toBe(3996);
    expect(many.buffer.byteLength).toBe(many.byteLength);
    expect(many.buffer).toBeInstanceOf(ArrayBuffer);
    c.setBits(10, 1);
    const few = c.take();
    expect([...few]).toEqual([10, 1]);
    expect(few.buffer.byteLength).toBe(16);
    expect([...many.subarray(0, 4)]).toEqual([0, 1, 4, 1]); // a copy: the next chunk did not overwrite it
    expect(c.take().length).toBe(0);
  });
});

