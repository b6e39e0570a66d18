/**
 * DMA logging REPORT for the VF tracker: validation, and one chunk of a report.
 *
 * Theory of operation
 * -------------------
 * A report over the clip range [clipLo, clipHi) is cut into chunks that tile it (../DirtySource.ts).
 * A tracker page [a, a + T) overlapping the clip range is owned by the chunk that holds
 * max(a, clipLo), so in page numbers q (a = q·T) a chunk [chunkLo, chunkHi) owns
 *
 *   q in [floor(clipLo / T), ceil(chunkHi / T))   when chunkLo = clipLo (the first chunk),
 *   q in [ceil(chunkLo / T),  ceil(chunkHi / T))   otherwise (a >= chunkLo > clipLo),
 *
 * and records [a, a + T) ∩ [clipLo, clipHi), like mlx5's iova_bitmap_set(addr, tracked page size)
 * but clipped to the report. The recorder both sources share (../ClipRecorder.ts, a tracker page
 * being its unit and each one a record) turns each run of records from the kernel
 * (./trackerKernel.ts) into one `bitmap.setUnits(q, n, pageShift)` call; only the at most two pages
 * that stick out of the clip range (when clipLo or clipHi is not T-aligned) go through the exact
 * bigint `bitmap.set`. Whether T is finer or coarser than the bitmap's page size, setUnits marks
 * every bitmap page the records touch.
 *
 * Stats: entriesVisited = record words read; dirtyLeaves = records reported; bitsMarked = bitmap
 * bits each record covers (max(1, T / bitmap page size) for a whole record; overlaps between
 * records, when T is finer than the bitmap page, counted again).
 */
import { ClipRecorder } from '../ClipRecorder.js';
import type { ReportChunk, SourceStats } from '../DirtySource.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { IovaBitmap } from '../bitmap/IovaBitmap.js';
import { log2Exact, toU64, U64_LIMIT } from '../u64.js';
import { readMasks, readRuns } from './trackerKernel.js';
import type { TrackerMemory } from './TrackerMemory.js';
import { VFIO_MIN_PAGE_SIZE } from './trackerLimits.js';

/**
 * Every check of a REPORT, before anything is written.
 * @returns the report's range as exact bigints
 * @throws IovaBitmapError `EINVAL`: tracking off, not an IovaBitmap, a bitmap page size below 4 KiB
 *   or not a power of two (VFIO's REPORT rule), a zero length, a range the bitmap does not cover;
 *   `EOVERFLOW`: iova + length past 2^64; `EFAULT`: the bitmap's ArrayBuffer was detached.
 */
export function checkTrackerReport(
  where: string,
  name: string,
  mem: TrackerMemory | null,
  bitmap: unknown,
  iovaIn: unknown,
  lengthIn: unknown,
): { lo: bigint; hi: bigint } {
  if (mem === null || !mem.isStarted()) throw IovaBitmapError.bad('EINVAL', where, 'tracker', name, 'is not started (no DMA logging to report)');
  if (!(bitmap instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'bitmap', bitmap, 'must be an IovaBitmap');
  bitmap.checkMemory(where);
  if (bitmap.pageSize < VFIO_MIN_PAGE_SIZE || log2Exact(bitmap.pageSize) < 0) {
    throw IovaBitmapError.bad('EINVAL', where, 'bitmap.pageSize', bitmap.pageSize, 'must be a power of two of at least 4096 bytes');
  }
  const lo = toU64(where, 'iova', iovaIn);
  const length = toU64(where, 'length', lengthIn);
  if (length === 0n) throw IovaBitmapError.bad('EINVAL', where, 'length', length, 'must be greater than 0');
  const hi = lo + length;
  if (hi > U64_LIMIT) throw IovaBitmapError.bad('EOVERFLOW', where, 'length', length, `makes iova ${lo} + length - 1 pass 2^64 - 1`);
  if (lo < bitmap.iova || hi > bitmap.end) {
    throw IovaBitmapError.bad(
      'EINVAL',
      where,
      'iova',
      lo,
      `with length ${length} must lie inside the bitmap's range [${bitmap.iova}, ${bitmap.end})`,
    );
  }
  return { lo, hi };
}

/**
 * Reports the records one chunk owns and clears them (unless `noClear`). Assumes
 * {@link checkTrackerReport} passed for the clip range; writes nothing if tracking stopped since.
 * @throws IovaBitmapError `EINVAL` when the tracker was stopped meanwhile.
 */
export function reportTrackerChunk(
  where: string,
  name: string,
  mem: TrackerMemory | null,
  bitmap: IovaBitmap,
  chunk: ReportChunk,
  noClear: boolean,
): SourceStats {
  if (mem === null || !mem.isStarted()) throw IovaBitmapError.bad('EINVAL', where, 'tracker', name, 'is not started (no DMA logging to report)');
  bitmap.checkMemory(where);
  const stats: SourceStats = { entriesVisited: 0, dirtyLeaves: 0, bitsMarked: 0 };
  const { chunkLo, chunkHi, clipLo, clipHi } = chunk;
  if (chunkHi <= chunkLo) return stats;
  const s = BigInt(mem.pageShift);
  const up = (1n << s) - 1n;
  const qa = Number(chunkLo <= clipLo ? clipLo >> s : (chunkLo + up) >> s);
  const qb = Number((chunkHi + up) >> s);
  const sink = new ClipRecorder(bitmap, mem.pageShift, clipLo, clipHi, true);
  sink.open();
  try {
    for (let g = 0; g < mem.segFirstPage.length; g++) {
      const first = mem.segFirstPage[g]!;
      const lo = qa > first ? qa : first;
      const hi = qb < mem.segEndPage[g]! ? qb : mem.segEndPage[g]!;
      if (lo >= hi) continue;
      const bit0 = mem.segFirstBit[g]!;
      // A tracker page that is one bitmap page lets a record word go to the bitmap whole (trackerKernel.ts).
      stats.entriesVisited +=
        mem.pageShift === bitmap.pageShift
          ? readMasks(mem.words, bit0 + lo - first, bit0 + hi - first, first - bit0, sink, !noClear)
          : readRuns(mem.words, bit0 + lo - first, bit0 + hi - first, first - bit0, sink, !noClear);
    }
  } finally {
    sink.close(); // the deferred summary marks (../ClipRecorder.ts)
  }
  stats.dirtyLeaves = sink.dirtyLeaves;
  stats.bitsMarked = sink.bitsMarked;
  return stats;
}
