/**
 * reportDirty: the sequential reference reporter.
 *
 * Theory of operation
 * -------------------
 * What iommufd's GET_DIRTY_BITMAP does on one thread, for any number of sources: validate every
 * source first (so a rejected report writes nothing), then walk the bitmap's windows in order and,
 * in each window, ask each source to report the units it owns there (the ownership rule of
 * ./DirtySource.ts; records are clipped to the bitmap's range, never to the window, so a huge
 * leaf across a 64 GiB window edge is recorded whole).
 *
 * This is the reference: the parallel engine (@iovabitmap/workers ReportPool) must leave the same
 * bitmap and the same source state, bit for bit, for any thread count and chunk size.
 */
import { addSourceStats, emptySourceStats, reportNoClear, type DirtySource, type SourceStats } from './DirtySource.js';
import { IovaBitmapError } from './IovaBitmapError.js';
import { IovaBitmap } from './bitmap/IovaBitmap.js';

/** Arguments of {@link reportDirty}. */
export interface ReportDirtyOptions {
  /** The caller's bitmap; the report covers its whole range. */
  readonly bitmap: IovaBitmap;
  /** The sources to read, in order; names must be unique. */
  readonly sources: readonly DirtySource[];
  /** Read without clearing (iommufd NO_CLEAR). @defaultValue false */
  readonly noClear?: boolean;
}

/** What a report did. */
export interface ReportStats {
  /** Per source name. */
  readonly sources: Readonly<Record<string, SourceStats>>;
  /** Sum over the sources. */
  readonly total: SourceStats;
  /**
   * The bitmap's `count()` after the walk minus its `count()` before. Both counts read only the
   * summary-marked blocks (the bitmap's summary, see `IovaBitmap.rescan`), so they cost the dirty
   * blocks, not the bitmap. When nothing else writes or clears the bitmap during the report, this is
   * exactly the bits that went from 0 to 1 (a bit it already held counts 0). Bits that other writers
   * (another report, a thread's `set`) add during the report are counted too, and a `clear()`
   * racing with it removes bits from the second count (the difference can then be negative).
   */
  readonly bitsSet: number;
  /** Chunks walked (windows × sources for the sequential reporter). */
  readonly chunks: number;
  /** Wall time of the walk, milliseconds (validation and bit counting excluded). */
  readonly elapsedMs: number;
}

/**
 * Validates a report request: a bitmap whose memory is there, a non-empty list of sources with
 * unique string names, a boolean `noClear`, and each source's own checks. Shared by the sequential
 * reporter and the parallel engine.
 * @throws IovaBitmapError `EINVAL`, `EFAULT` and the sources' own codes.
 */
export function checkReportRequest(where: string, bitmap: unknown, sources: unknown, noClear: boolean): void {
  if (typeof noClear !== 'boolean') throw IovaBitmapError.bad('EINVAL', where, 'noClear', noClear, 'must be a boolean');
  if (!(bitmap instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'bitmap', bitmap, 'must be an IovaBitmap');
  bitmap.checkMemory(where);
  if (!Array.isArray(sources) || sources.length === 0) {
    throw IovaBitmapError.bad('EINVAL', where, 'sources', sources, 'must be a non-empty array of dirty sources');
  }
  const names = new Set<string>();
  for (const s of sources as DirtySource[]) {
    if (typeof s !== 'object' || s === null || typeof s.reportChunk !== 'function' || typeof s.checkReport !== 'function' || typeof s.share !== 'function') {
      throw IovaBitmapError.bad('EINVAL', where, 'sources', s, 'holds something that is not a DirtySource');
    }
    if (typeof s.name !== 'string' || s.name === '') throw IovaBitmapError.bad('EINVAL', where, 'sources', s.name, 'holds a source whose name is not a non-empty string');
    if (names.has(s.name)) throw IovaBitmapError.bad('EINVAL', where, 'sources', s.name, 'holds two sources with the same name');
    names.add(s.name);
  }
  for (const s of sources as DirtySource[]) s.checkReport(bitmap, bitmap.iova, bitmap.length, { noClear });
}

/**
 * Reports every source over the bitmap's whole range, window by window, on this thread.
 * @throws IovaBitmapError from validation (`EINVAL` for options that are not
 *   {@link ReportDirtyOptions}, `EFAULT` for a bitmap whose memory is gone, and the sources' own
 *   codes); nothing is written or cleared then.
 * @example
 * ```ts
 * import { IoPageTable, IovaBitmap, VfTracker, reportDirty } from '@iovabitmap/core';
 *
 * const GiB = 1n << 30n;
 * const iommu = new IoPageTable({ format: 'amd-v1', name: 'iommu' });
 * iommu.map(0n, GiB, { leaf: 2n << 20n });
 * iommu.setDirtyTracking(true);
 * const vf = new VfTracker({ name: 'vf' });
 * vf.start({ ranges: [{ iova: 0n, length: GiB }], pageSize: 4096 });
 * iommu.dmaWrite(0n, 1); // a 2 MiB leaf: 512 pages
 * vf.dmaWrite(4096n, 1); // a page inside that leaf
 * const bitmap = new IovaBitmap({ iova: 0n, length: GiB, pageSize: 4096 });
 * const stats = reportDirty({ bitmap, sources: [iommu, vf] });
 * console.log(stats.bitsSet, stats.total.dirtyLeaves); // 512 2
 * ```
 */
export function reportDirty(options: ReportDirtyOptions): ReportStats {
  const W = 'reportDirty';
  if (typeof options !== 'object' || options === null) throw IovaBitmapError.bad('EINVAL', W, 'options', options, 'must be { bitmap, sources, noClear? }');
  const { bitmap, sources } = options;
  const noClear = reportNoClear(W, options);
  checkReportRequest(W, bitmap, sources, noClear);
  const before = bitmap.count();
  const per: Record<string, SourceStats> = {};
  for (const s of sources) per[s.name] = emptySourceStats();
  const clipLo = bitmap.iova;
  const clipHi = bitmap.end;
  const opts = { noClear };
  let chunks = 0;
  const t0 = performance.now();
  for (const w of bitmap.windows()) {
    const chunk = { chunkLo: w.iova, chunkHi: w.iova + w.length, clipLo, clipHi };
    for (const s of sources) {
      addSourceStats(per[s.name]!, s.reportChunk(bitmap, chunk, opts));
      chunks++;
    }
  }
  const elapsedMs = performance.now() - t0;
  const total = emptySourceStats();
  for (const s of sources) addSourceStats(total, per[s.name]!);
  return { sources: per, total, bitsSet: bitmap.count() - before, chunks, elapsedMs };
}
