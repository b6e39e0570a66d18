/**
 * ReportPool gives the sequential reporter's answer, bit for bit, for any thread count (1 to 8,
 * more threads than this machine's 2 cores included) and any chunk size; several callers at once
 * each get theirs; 10,000 small reports leak no memory and no listeners.
 *
 * The reference is core's `reportDirty` on an identical workload: the same maps and the same DMA
 * writes on an IoPageTable (any format, 4 KiB / 2 MiB / 1 GiB leaves, some straddling the
 * bitmap's edges) and a VfTracker. After the report we compare the bitmaps, then run a second
 * noClear report of each into fresh bitmaps to compare what the sources still hold.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { threadId } from 'node:worker_threads';
import { IoPageTable, IovaBitmap, VfTracker, reportDirty, type PteFormat } from '@iovabitmap/core';
import { ReportPool } from '@iovabitmap/workers';
import { drainedStatus } from '../helpers/poolAndDevice.js';
import { firstDiff, twin } from '../helpers/bitmaps.js';
import { GiB, MiB } from '../helpers/sizes.js';


/** A workload description; {@link build} makes an independent copy of it each time. */
interface Spec {
  readonly format: PteFormat;
  /** Leaf size of 2 MiB block b is blockLeaves[b % length]; the table maps the blocks the bitmap touches. */
  readonly blockLeaves: readonly ('4k' | '2m')[];
  /** Use a 1 GiB leaf for [1 GiB, 2 GiB) instead of blocks. */
  readonly hugeSecondGiB: boolean;
  /** Bitmap: first 4 KiB page and number of bits. */
  readonly firstPage: number;
  readonly nbits: number;
  readonly bitmapPageShift: 12 | 13;
  readonly byteOffset: number;
  readonly windowPages: number;
  readonly trackerPageShift: 12 | 14;
  /** DMA writes: [offset in 4 KiB pages from 64 pages below the bitmap (modulo its span + 128), pages]. */
  readonly writes: readonly (readonly [number, number])[];
  /** The sources reported: both, or one of them (one source over a bitmap whose pages are no larger than its unit: bitsSet from the records). */
  readonly report: 'both' | 'iommu' | 'vf';
  /** Rebuild the bitmap's summary before the report (its buffer is zero): a clean summary, so the pool skips the count before. */
  readonly clean: boolean;
  /** Bits set before the report (modulo nbits), after any rebuild: then nothing is skipped. */
  readonly preset?: readonly number[];
}

function build(s: Spec) {
  const pageSize = 1n << BigInt(s.bitmapPageShift);
  const iova = BigInt(s.firstPage) << 12n;
  const length = BigInt(s.nbits) * pageSize;
  // Map every 2 MiB block the bitmap touches (one 1 GiB leaf for the second GiB when asked).
  const table = new IoPageTable({ format: s.format, name: 'iommu' });
  let mappedLo = (iova >> 21n) << 21n;
  let mappedHi = ((iova + length + 2n * MiB - 1n) >> 21n) << 21n;
  let hugeMapped = false;
  for (let b = mappedLo; b < mappedHi; b += 2n * MiB) {
    if (s.hugeSecondGiB && b >= GiB && b < 2n * GiB) {
      if (!hugeMapped) table.map(GiB, GiB, { leaf: GiB });
      hugeMapped = true;
      continue;
    }
    const leaf = s.blockLeaves[Number(b >> 21n) % s.blockLeaves.length] === '4k' ? 4096n : 2n * MiB;
    table.map(b, 2n * MiB, { leaf });
  }
  if (hugeMapped && mappedLo > GiB) mappedLo = GiB;
  if (hugeMapped && mappedHi < 2n * GiB) mappedHi = 2n * GiB;
  table.setDirtyTracking(true);
  const tracker = new VfTracker({ name: 'vf' });
  const tps = 1n << BigInt(s.trackerPageShift);
  tracker.start({ ranges: [{ iova: mappedLo, length: mappedHi - mappedLo }], pageSize: tps });
  // Writes land around the bitmap's range (64 pages either side), inside the mapping.
  const first = Number(mappedLo >> 12n);
  const end = Number(mappedHi >> 12n);
  const near = Number(iova >> 12n) - 64;
  const span = Number((length >> 12n) + 128n);
  for (const [at, n] of s.writes) {
    const p = Math.min(Math.max(first, near + (at % span)), end - 1);
    const count = Math.min(n, end - p);
    table.dmaWritePages(p, count);
    tracker.dmaWritePages(p, count);
  }
  const buffer = new SharedArrayBuffer(s.byteOffset + IovaBitmap.bytesFor(length, pageSize) + 8);
  const bitmap = new IovaBitmap({ iova, length, pageSize, buffer, byteOffset: s.byteOffset, windowPages: s.windowPages });
  if (s.clean) bitmap.rescan();
  for (const b of s.preset ?? []) bitmap.setBits(b % s.nbits, 1);
  const sources = s.report === 'both' ? [table, tracker] : s.report === 'iommu' ? [table] : [tracker];
  return { table, tracker, bitmap, sources };
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  format: fc.constantFrom<PteFormat>('vtd-ss', 'amd-v1', 'smmu-v3'),
  blockLeaves: fc.array(fc.constantFrom<'4k' | '2m'>('4k', '2m'), { minLength: 1, maxLength: 5 }),
  hugeSecondGiB: fc.boolean(),
  // Near the 1 GiB edge, so that some cases straddle it: pages [2^18 - 2^14, 2^18 + 2^14).
  firstPage: fc.integer({ min: 2 ** 18 - 2 ** 14, max: 2 ** 18 + 2 ** 14 }).map((p) => p & ~1),
  nbits: fc.integer({ min: 1, max: 40_000 }),
  bitmapPageShift: fc.constantFrom<12 | 13>(12, 13),
  byteOffset: fc.integer({ min: 0, max: 4200 }),
  windowPages: fc.constantFrom(1, 2, 512),
  trackerPageShift: fc.constantFrom<12 | 14>(12, 14),
  writes: fc.array(fc.tuple(fc.nat(), fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 600 }))), { maxLength: 60 }),
  report: fc.constantFrom<'both' | 'iommu' | 'vf'>('both', 'iommu', 'vf'),
  clean: fc.boolean(),
  preset: fc.oneof(fc.constant([]), fc.array(fc.nat(), { minLength: 1, maxLength: 3 })),
});

const chunkBitsArb = fc.oneof(fc.integer({ min: 1, max: 8 }).map((w) => w * 32), fc.constantFrom(1024, 4096, 65536));

// One pool of 8 workers for the whole file (worker start-up from TypeScript sources costs
// ~0.6 s each here); a report's `threads` option limits it to 1..8 of them, which is the same
// as a pool of that size. It runs every report on its workers (`inlineBelow: 0`); `inline` runs
// every report of these (profiled) sources on the caller's thread.
let pool: ReportPool;
let inline: ReportPool;
beforeAll(async () => {
  pool = new ReportPool({ threads: 8, inlineBelow: 0 });
  inline = new ReportPool({ threads: 1, warmUp: false, inlineBelow: Number.MAX_SAFE_INTEGER });
  await pool.ready();
});
afterAll(() => Promise.all([pool.close(), inline.close()]));

describe('ReportPool gives the sequential answer', () => {
  for (const threads of [1, 2, 3, 4, 5, 6, 7, 8, 'inline'] as const) {
    const label = threads === 'inline' ? "on the caller's thread (inlineBelow)" : `with ${threads} thread(s)`;
    it(`leaves the same bitmap and the same remaining dirty state as reportDirty, ${label}`, async () => {
      await fc.assert(
        fc.asyncProperty(specArb, chunkBitsArb, fc.boolean(), async (spec, chunkBits, noClear) => {
          const ref = build(spec);
          const par = build(spec);
          const rs = reportDirty({ bitmap: ref.bitmap, sources: ref.sources, noClear });
          const ps =
            threads === 'inline'
              ? await inline.report({ bitmap: par.bitmap, sources: par.sources, chunkBits, noClear })
              : await pool.report({ bitmap: par.bitmap, sources: par.sources, chunkBits, noClear, threads });
          expect(firstDiff(par.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
          expect(ps.bitsSet).toBe(rs.bitsSet);
          const names = par.sources.map((x) => x.name);
          for (const n of names) expect(ps.sources[n]!.dirtyLeaves).toBe(rs.sources[n]!.dirtyLeaves);
          expect(ps.total.bitsMarked).toBe(rs.total.bitsMarked);
          expect(ps.chunks).toBe(names.reduce((c, n) => c + ps.sources[n]!.chunks, 0));
          if (threads === 'inline') {
            // Nothing ran on a worker; the chunks are reportDirty's (windows × sources).
            expect(ps.tasks).toBe(0);
            expect(ps.workers).toEqual([]);
            expect(ps.chunks).toBe(rs.chunks);
          } else {
            // The caller's share (threads >= 2, a clean summary) may leave the last task unposted,
            // even when it walked nothing (the workers claimed every chunk first).
            expect(ps.tasks).toBeGreaterThanOrEqual(Math.min(threads, ps.chunks) - (threads >= 2 ? 1 : 0));
            expect(ps.tasks).toBeLessThanOrEqual(Math.min(threads, ps.chunks));
            expect(ps.workers.filter((w) => w.threadId === threadId).length).toBeLessThanOrEqual(1);
            expect(ps.workers.reduce((n, w) => n + w.chunks, 0)).toBe(ps.chunks);
          }
          // What is left in the sources: read it without clearing, source by source.
          for (const [x, y] of [[ref.table, par.table], [ref.tracker, par.tracker]] as const) {
            const a = twin(ref.bitmap);
            const b = twin(par.bitmap);
            reportDirty({ bitmap: a, sources: [x], noClear: true });
            reportDirty({ bitmap: b, sources: [y], noClear: true });
            expect(firstDiff(b.snapshot(), a.snapshot())).toBe(-1);
          }
        }),
        { numRuns: 12 },
      );
    });
  }
});

describe('ReportPool under load', () => {
  it('has every worker up after ready()', () => {
    expect(pool.status).toMatchObject({ workers: 8, activeReports: 0, queuedTasks: 0, closed: false });
  });

  it('gives each of several concurrent callers the right answer (same sources on disjoint ranges, and other sources)', async () => {
    const spec = (firstPage: number, nbits: number, seed: number): Spec => ({
      format: 'vtd-ss',
      blockLeaves: ['4k', '2m', '4k'],
      hugeSecondGiB: false,
      report: 'both',
      clean: false,
      firstPage,
      nbits,
      bitmapPageShift: 12,
      byteOffset: 3,
      windowPages: 1,
      trackerPageShift: 12,
      writes: Array.from({ length: 300 }, (_, i) => [(i * 7919 * seed) % 200_000, 1 + (i % 5)] as const),
    });
    // One table and tracker over 8 blocks (16 MiB); four bitmaps on disjoint 2 MiB-aligned slices.
    const whole = spec(0, 4096, 1);
    const ref = build(whole);
    const par = build(whole);
    const slices = [0, 1024, 2048, 3072].map((p) => ({ iova: BigInt(p) << 12n, length: 1024n << 12n }));
    const refMaps = slices.map((r) => new IovaBitmap({ ...r, pageSize: 4096n }));
    const parMaps = slices.map((r) => new IovaBitmap({ ...r, pageSize: 4096n, windowPages: 1 }));
    for (const b of refMaps) reportDirty({ bitmap: b, sources: ref.sources });
    // Two unrelated workloads as well.
    const other = [spec(2 ** 18, 30_000, 3), spec(2 ** 18 + 4096, 20_000, 5)];
    const otherRef = other.map(build);
    const otherPar = other.map(build);
    for (const w of otherRef) reportDirty({ bitmap: w.bitmap, sources: w.sources });
    const runs = [
      ...parMaps.map((bitmap) => pool.report({ bitmap, sources: par.sources, chunkBits: 64, threads: 3 })),
      ...otherPar.map((w) => pool.report({ bitmap: w.bitmap, sources: w.sources, chunkBits: 256 })),
    ];
    expect(pool.status.activeReports).toBe(6);
    await Promise.all(runs);
    parMaps.forEach((b, i) => expect(firstDiff(b.snapshot(), refMaps[i]!.snapshot())).toBe(-1));
    otherPar.forEach((w, i) => expect(firstDiff(w.bitmap.snapshot(), otherRef[i]!.bitmap.snapshot())).toBe(-1));
    expect(refMaps.reduce((n, b) => n + b.count(), 0)).toBeGreaterThan(0);
    expect(pool.status.activeReports).toBe(0);
  });

  it('runs 10,000 small reports without growing the heap or the listener counts', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const w = build({
      format: 'amd-v1',
      blockLeaves: ['4k'],
      hugeSecondGiB: false,
      report: 'both',
      clean: false,
      firstPage: 0,
      nbits: 256,
      bitmapPageShift: 12,
      byteOffset: 0,
      windowPages: 512,
      trackerPageShift: 12,
      writes: [],
    });
    const controller = new AbortController();
    const listeners = pool.status.listeners;
    let progressCalls = 0;
    const round = async (n: number) => {
      for (let i = 0; i < n; i++) {
        w.table.dmaWritePages(i % 256, 1);
        w.tracker.dmaWritePages((i * 7) % 256, 1);
        const s = await pool.report({ bitmap: w.bitmap, sources: w.sources, signal: controller.signal, onProgress: () => progressCalls++ });
        if (s.total.dirtyLeaves !== 2) throw new Error(`report ${i}: ${s.total.dirtyLeaves} dirty leaves, expected 2`);
      }
    };
    await round(1000);
    gc();
    const heap0 = process.memoryUsage().heapUsed;
    await round(9000);
    gc();
    const growth = process.memoryUsage().heapUsed - heap0;
    expect(growth).toBeLessThan(8 * 2 ** 20);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(await drainedStatus(pool)).toMatchObject({ listeners, activeReports: 0, queuedTasks: 0, workers: 8 });
    expect(progressCalls).toBeGreaterThanOrEqual(10_000);
    expect(w.bitmap.count()).toBe(256);
  });
});
