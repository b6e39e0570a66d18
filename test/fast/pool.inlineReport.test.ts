/**
 * ReportPool's short path (pool/inlineReport.ts): a report estimated below `inlineBelow` entries
 * of work runs on the caller's thread with core's reportDirty. Which reports take it (the
 * estimate, the boundary, sources without a profile, fault injection, streaming), and what differs from the
 * workers' path: one synchronous step (the signal is read before it; an abort after the call
 * finds it done), onProgress once at the end, `tasks: 0` and no workers in the stats. And the
 * caller's thread's own JIT warm-up, run by a pool that may report there.
 *
 * Bit-identical results on both paths are checked by the property test of
 * pool.reportPool.test.ts; the shared validation and the already-aborted signal by
 * pool.faults.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, VfTracker, reportDirty } from '@iovabitmap/core';
import { ReportPool, type ReportProgress } from '@iovabitmap/workers';
import { DEFAULT_INLINE_BELOW, inlineWork, warmedUpMs } from '@iovabitmap/workers/internal';
import { firstDiff, twin } from '../helpers/bitmaps.js';
import { GiB, MiB } from '../helpers/sizes.js';
import { rejectionOf } from '../helpers/rejection.js';

/**
 * A tracker (4 KiB pages) over [0, trackedPages × 4 KiB) and a bitmap of 1 MiB pages over whole
 * GiBs covering it: its work is the tracker's record words (trackedPages / 32, rounded up) + the
 * bitmap's words. Every 7th of the first 2^20 pages written.
 */
function trackerWorld({ trackedPages, gib }: { trackedPages: number; gib: number }) {
  const length = BigInt(gib) * GiB;
  const tracker = new VfTracker({ name: 'vf' });
  tracker.start({ ranges: [{ iova: 0n, length: BigInt(trackedPages) * 4096n }], pageSize: 4096 });
  for (let p = 0; p < Math.min(trackedPages, 2 ** 20); p += 7) tracker.dmaWritePages(p, 1);
  const bitmap = new IovaBitmap({ iova: 0n, length, pageSize: MiB });
  return { tracker, bitmap, sources: [tracker] };
}

/** Tracked pages, and the GiBs of bitmap over them, that make a trackerWorld's work exactly `work` entries. */
function pagesForWork(work: number): { trackedPages: number; gib: number } {
  const bitmapWords = (gib: number) => (gib * 1024) / 32;
  for (let gib = 1; ; gib++) {
    const trackedPages = 32 * (work - bitmapWords(gib));
    if (trackedPages * 4096 <= gib * Number(GiB)) return { trackedPages, gib };
  }
}

/** `mib` MiB of 4 KiB leaves, one page in 10 written; a bitmap of 4 KiB pages over it. */
function tableWorld(mib = 64, windowPages?: number) {
  const table = new IoPageTable({ format: 'vtd-ss', name: 'iommu' });
  table.map(0n, BigInt(mib) * MiB, { leaf: 4096n });
  table.setDirtyTracking(true);
  for (let p = 0; p < mib * 256; p += 10) table.dmaWritePages(p, 1);
  const bitmap = new IovaBitmap({ iova: 0n, length: BigInt(mib) * MiB, pageSize: 4096, ...(windowPages === undefined ? {} : { windowPages }) });
  return { table, bitmap, sources: [table] };
}

let pool: ReportPool;
beforeAll(() => {
  pool = new ReportPool({ threads: 1, warmUp: false });
});
afterAll(() => pool.close());

describe('ReportPool: which reports run on the caller’s thread', () => {
  it('estimates the work as the sources’ work-profile entries plus the bitmap’s words, Infinity without a profile', () => {
    const w = tableWorld();
    const profile = w.table.workProfile(0n, 64n * MiB)!;
    expect(profile.entries).toBe(2 ** 14);
    expect(inlineWork(w.bitmap, [profile])).toBe(2 ** 14 + 2 ** 14 / 32);
    expect(inlineWork(w.bitmap, [profile, profile])).toBe(2 * 2 ** 14 + 2 ** 14 / 32);
    expect(inlineWork(w.bitmap, [profile, undefined])).toBe(Infinity);
  });

  it(`defaults inlineBelow to ${DEFAULT_INLINE_BELOW} entries: a report of one entry less runs inline, one of exactly that many on the workers`, async () => {
    expect(pool.inlineBelow).toBe(DEFAULT_INLINE_BELOW);
    for (const [work, onWorkers] of [
      [DEFAULT_INLINE_BELOW - 1, false],
      [DEFAULT_INLINE_BELOW, true],
    ] as const) {
      const w = trackerWorld(pagesForWork(work));
      const ref = trackerWorld(pagesForWork(work));
      expect(inlineWork(w.bitmap, [w.tracker.workProfile(w.bitmap.iova, w.bitmap.length)])).toBe(work);
      const rs = reportDirty({ bitmap: ref.bitmap, sources: ref.sources });
      const s = await pool.report({ bitmap: w.bitmap, sources: w.sources });
      expect({ work, tasks: s.tasks, workers: s.workers.length }).toEqual(onWorkers ? { work, tasks: 1, workers: 1 } : { work, tasks: 0, workers: 0 });
      expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
      expect(s.bitsSet).toBe(rs.bitsSet);
      w.tracker.stop();
      ref.tracker.stop();
    }
  });

  it('sends a report to the workers when a source has no work profile (a page-table view), or with faultInjection', async () => {
    const w = tableWorld();
    const view = IoPageTable.fromShared(w.table.share());
    expect(view.workProfile(0n, 64n * MiB)).toBeUndefined();
    const s = await pool.report({ bitmap: w.bitmap, sources: [view], noClear: true });
    expect(s.tasks).toBe(1);
    // Fault injection is about a worker dying: it always runs there (here it fails as injected).
    const e = await rejectionOf(pool.report({ bitmap: twin(w.bitmap), sources: w.sources, faultInjection: { afterChunks: 0, mode: 'throw' } }));
    expect(e.code).toBe('EIO');
    expect(e.message).toContain('injected fault in chunk 0');
  });

  it('streams a small report (onChunk) on the caller’s thread: the same chunks, numbered and recorded as the workers hand them over', async () => {
    const workers = new ReportPool({ threads: 1, warmUp: false, inlineBelow: 0 });
    try {
      const got: Record<string, { chunk: number; source: string; runs: number[] }[]> = {};
      const bitmaps: IovaBitmap[] = [];
      for (const [path, p] of [['inline', pool], ['workers', workers]] as const) {
        const w = tableWorld();
        const tracker = new VfTracker({ name: 'vf' });
        tracker.start({ ranges: [{ iova: 0n, length: 64n * MiB }], pageSize: 4096 });
        for (let q = 5; q < 64 * 256; q += 333) tracker.dmaWritePages(q, 1);
        const chunks: { chunk: number; source: string; runs: number[] }[] = [];
        let settled = false;
        const s = await p.report({ bitmap: w.bitmap, sources: [w.table, tracker], chunkBits: 2048, onChunk: (c) => void chunks.push({ chunk: c.chunk, source: c.source, runs: settled ? [] : [...c.runs] }) });
        settled = true;
        expect(s.tasks).toBe(path === 'inline' ? 0 : 1);
        expect(s.bitsSet).toBe(w.bitmap.count());
        got[path] = chunks.sort((a, b) => a.chunk - b.chunk);
        bitmaps.push(w.bitmap);
        tracker.stop();
      }
      expect(got['inline']!.length).toBeGreaterThan(8);
      expect(got['inline']).toEqual(got['workers']);
      expect(firstDiff(bitmaps[0]!.snapshot(), bitmaps[1]!.snapshot())).toBe(-1);
    } finally {
      await workers.close();
    }
  });

  it('gives the stats of the workers’ path, with tasks 0, no workers, and per source its windows and its own walk time', async () => {
    // 384 MiB with one 4 KiB page of bitmap (128 MiB at 4 KiB pages) per window: 3 windows.
    const w = tableWorld(384, 1);
    const tracker = new VfTracker({ name: 'vf' });
    tracker.start({ ranges: [{ iova: 0n, length: 384n * MiB }], pageSize: 4096 });
    tracker.dmaWritePages(3, 1);
    const windows = w.bitmap.windows().length;
    expect(windows).toBe(3);
    const s = await pool.report({ bitmap: w.bitmap, sources: [w.table, tracker], noClear: true });
    expect(s).toMatchObject({ tasks: 0, workers: [], chunks: 2 * windows, bitsSet: 9831 + 1 });
    // Per source, core's counters are reportDirty's.
    const ref = tableWorld(384, 1);
    const rs = reportDirty({ bitmap: ref.bitmap, sources: [ref.table], noClear: true });
    expect(s.sources['iommu']).toMatchObject({ chunks: windows, ...rs.sources['iommu'] });
    expect(s.sources['iommu']!.dirtyLeaves).toBe(9831);
    expect(s.sources['vf']).toMatchObject({ chunks: windows, dirtyLeaves: 1, bitsMarked: 1 });
    expect(s.elapsedMs).toBeCloseTo(s.sources['iommu']!.busyMs + s.sources['vf']!.busyMs, 6);
    expect(s.wallMs).toBeGreaterThanOrEqual(s.elapsedMs);
    expect(s.total.dirtyLeaves).toBe(9832);
    expect(s.chunkBits).toHaveLength(2);
    tracker.stop();
  });
});

describe('ReportPool on the caller’s thread: abort and progress', () => {
  it('reads the signal once, before the work: an abort after the call finds the report done and complete', async () => {
    const w = tableWorld();
    const ref = tableWorld();
    reportDirty({ bitmap: ref.bitmap, sources: ref.sources });
    const ac = new AbortController();
    const p = pool.report({ bitmap: w.bitmap, sources: w.sources, signal: ac.signal });
    ac.abort();
    const s = await p;
    expect(s.tasks).toBe(0);
    expect(firstDiff(w.bitmap.snapshot(), ref.bitmap.snapshot())).toBe(-1);
    expect(reportDirty({ bitmap: twin(w.bitmap), sources: w.sources, noClear: true }).bitsSet).toBe(0);
  });

  it('calls onProgress once, at the end, with the totals; a throwing onProgress becomes a warning', async () => {
    const w = tableWorld();
    const seen: ReportProgress[] = [];
    const s = await pool.report({ bitmap: w.bitmap, sources: w.sources, noClear: true, onProgress: (p) => seen.push(p) });
    expect(s.tasks).toBe(0);
    expect(seen).toEqual([{ chunksDone: s.chunks, chunksTotal: s.chunks, bytesScanned: 64n * MiB, bytesTotal: 64n * MiB }]);
    const warnings: string[] = [];
    const onWarning = (e: Error) => warnings.push(e.message);
    process.on('warning', onWarning);
    try {
      const t = await pool.report({
        bitmap: twin(w.bitmap),
        sources: w.sources,
        onProgress: () => {
          throw new Error('bad callback');
        },
      });
      expect(t.bitsSet).toBe(1639);
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual(['ReportPool.report: onProgress threw: Error: bad callback']);
  });
});

describe('ReportPool: the caller’s thread’s warm-up', () => {
  it('runs it while the workers start only when the pool may report on this thread', async () => {
    // This file's other pool has warmUp: false, so nothing has warmed this thread yet.
    expect(warmedUpMs()).toBeNaN();
    const never = new ReportPool({ threads: 1, inlineBelow: 0 });
    await never.ready();
    await never.close();
    expect(warmedUpMs()).toBeNaN();
    const inline = new ReportPool({ threads: 1 });
    await inline.ready();
    await inline.close();
    expect(warmedUpMs()).toBeGreaterThan(0);
  });
});
