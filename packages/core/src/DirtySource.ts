/**
 * DirtySource: the one interface of everything that can report dirty IOVA pages.
 *
 * Theory of operation
 * -------------------
 * Two kinds of source exist on a real host: the IOMMU page table (PTE dirty bits, see
 * ./pagetable) and the device's own tracker (VFIO DMA logging, see ./tracker). Both keep their
 * state in SharedArrayBuffers, so that a worker can rebuild a view with {@link DirtySourceShared}
 * and report a *chunk* of a range while other workers report other chunks.
 *
 * A report over IOVA [lo, hi) (the *clip range*: the bitmap's range, or a sub-range of it) is cut
 * into chunks that tile it. A source's dirty unit (a leaf PTE of 4 KiB..1 GiB, or a tracker page)
 * can be larger than a chunk and straddle chunk or window edges. The ownership rule makes every
 * unit reported exactly once however the range is cut:
 *
 *   a unit [a, b) overlapping the clip range is *owned* by the chunk that holds max(a, lo);
 *   the owning chunk records the whole of [a, b) ∩ [lo, hi) into the bitmap, then clears it.
 *
 * So the sequential reporter (chunks = windows) and the parallel engine (chunks = pieces of
 * windows, claimed by any worker) set the same bits and leave the same state, bit for bit. This
 * is also the fix of kernel commit 2780025e01e2 (a 64 GiB window edge inside a 1 GiB IOPTE): the
 * record is not clipped at the chunk or window edge, only at the clip range.
 *
 * Record before clear: a unit's dirty state is cleared only after its pages are in the bitmap,
 * and the clear is an atomic AND that removes only what was read; a failure in between duplicates
 * a report in the next round and never loses one.
 *
 * Validation: {@link DirtySource.checkReport} runs every check of a report (tracking on,
 * alignment, holes, bitmap coverage, the bitmap's memory still there: IovaBitmap.checkMemory)
 * before the first chunk is walked, so a rejected report writes and clears nothing.
 */
import type { IovaBitmap } from './IovaBitmap.js';

/** Counters one source returns for one chunk (they add up across chunks). */
export interface SourceStats {
  /** Entries examined: PTEs read (every level) or tracker words read. */
  entriesVisited: number;
  /** Dirty units found: leaf PTEs (a replicated AMD page counts once) or tracker records. */
  dirtyLeaves: number;
  /** Bitmap bits covered by the records (overlaps between records counted again). */
  bitsMarked: number;
}

/** Options of one report over a source. */
export interface ReportOptions {
  /** Read only: leave the dirty state as it is (iommufd's NO_CLEAR). @defaultValue false */
  readonly noClear?: boolean;
}

/** One chunk of a report: walk the units owned by [chunkLo, chunkHi), record them clipped to [clipLo, clipHi). */
export interface ReportChunk {
  /** First IOVA of the chunk, bytes. */
  readonly chunkLo: bigint;
  /** One past the last IOVA of the chunk, bytes. */
  readonly chunkHi: bigint;
  /** First IOVA of the whole report (records are clipped to it), bytes. */
  readonly clipLo: bigint;
  /** One past the last IOVA of the whole report, bytes. */
  readonly clipHi: bigint;
}

/** Structured-cloneable description of a source; rebuilt with `dirtySourceFromShared`. */
export interface DirtySourceShared {
  /** Which implementation: `'IoPageTable'` or `'VfTracker'`. */
  readonly kind: string;
  /** The source's name, as in {@link DirtySource.name}. */
  readonly name: string;
}

/** What the reporters need from a dirty source. */
export interface DirtySource {
  /** A short name for stats and errors, e.g. `"iommu"` or `"vf0"`. */
  readonly name: string;
  /**
   * Validates a report of IOVA [iova, iova + length) into `bitmap` without writing anything.
   * @throws IovaBitmapError with the kernel's code: tracking off / unaligned (`EINVAL`), overflow
   *   (`EOVERFLOW`), a hole in a page table range (`ENOENT`), a bitmap that does not cover the range
   *   (`EINVAL`), a bitmap whose memory is gone (`EFAULT`: every source must call
   *   `bitmap.checkMemory`, so that nothing is cleared into a bitmap that drops the bits).
   */
  checkReport(bitmap: IovaBitmap, iova: bigint, length: bigint, options?: ReportOptions): void;
  /** Reports one chunk (see the module comment); assumes {@link checkReport} passed. */
  reportChunk(bitmap: IovaBitmap, chunk: ReportChunk, options?: ReportOptions): SourceStats;
  /** Describes the shared state for a worker; no copy. */
  share(): DirtySourceShared;
  /**
   * Optional: what reading IOVA [iova, iova + length) costs, for the parallel engine's chunk
   * sizing: entries read (PTEs at the leaf level, tracker pages) and the most entries per 4 KiB
   * page of IOVA anywhere in the range. `undefined` when unknown (the engine then falls back to a
   * fixed IOVA size per chunk).
   */
  workProfile?(iova: bigint, length: bigint): WorkProfile | undefined;
}

/** What a report of a range costs a source; see {@link DirtySource.workProfile}. */
export interface WorkProfile {
  /** Entries a walk of the range reads. */
  readonly entries: number;
  /** Most entries read per 4 KiB page of IOVA anywhere in the range (0 when nothing is there). */
  readonly peakEntriesPerPage: number;
}

/** A fresh zeroed {@link SourceStats}. */
export function emptySourceStats(): SourceStats {
  return { entriesVisited: 0, dirtyLeaves: 0, bitsMarked: 0 };
}

/** Adds `b` into `a` and returns `a`. */
export function addSourceStats(a: SourceStats, b: SourceStats): SourceStats {
  a.entriesVisited += b.entriesVisited;
  a.dirtyLeaves += b.dirtyLeaves;
  a.bitsMarked += b.bitsMarked;
  return a;
}
