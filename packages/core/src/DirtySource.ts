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
 * before the first chunk is walked, so a rejected report writes and clears nothing. Every source
 * checks its options with {@link reportNoClear} and a chunk with {@link checkChunk}, so the rules
 * for those are one rule.
 */
import { IovaBitmapError } from './IovaBitmapError.js';
import type { IovaBitmap } from './bitmap/IovaBitmap.js';
import { toU64, U64_LIMIT, type U64Like } from './u64.js';

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
   * sizing: entries read (PTEs at the leaf level, the tracker's record words of 32 pages) and the
   * most entries per 4 KiB page of IOVA anywhere in the range. `undefined` when unknown (the engine then falls back to a
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
  /**
   * Optional: log2 of the IOVA unit the source records in (12 for a page table's 4 KiB pages, the
   * page size for a VF tracker), promising that every record is a run of whole units, aligned to
   * them, and that no unit is recorded twice in one report (a leaf belongs to one chunk). Over a
   * bitmap whose pages are no larger than a unit, the bits of a report's records are then disjoint,
   * and their sum (`bitsMarked`) is the bits the report set in a bitmap that was clear: the
   * parallel engine uses it for `bitsSet` instead of counting the bitmap again (workers'
   * ReportPool). Absent: no such promise.
   */
  readonly unitShift?: number;
}

/**
 * The one check of a report's options, for every source and reporter: `undefined` or an object
 * whose `noClear` is a boolean or absent. A non-boolean is refused, never read as truthy or falsy
 * (a `noClear: 'false'` that silently kept every record is what this prevents).
 * @returns whether the report must leave the dirty state as it is
 * @throws IovaBitmapError `EINVAL`
 */
export function reportNoClear(where: string, options: unknown): boolean {
  if (options === undefined) return false;
  if (typeof options !== 'object' || options === null) throw IovaBitmapError.bad('EINVAL', where, 'options', options, 'must be { noClear?: boolean }');
  const noClear = (options as ReportOptions).noClear;
  if (noClear !== undefined && typeof noClear !== 'boolean') throw IovaBitmapError.bad('EINVAL', where, 'noClear', noClear, 'must be a boolean');
  return noClear === true;
}

/**
 * Checks a {@link ReportChunk}: an object of four bigints in [0, 2^64] (a chunk of a report that
 * passed checkReport; this only refuses what is not a chunk at all).
 * @throws IovaBitmapError `EINVAL`
 */
export function checkChunk(where: string, chunk: unknown): ReportChunk {
  if (typeof chunk !== 'object' || chunk === null) throw IovaBitmapError.bad('EINVAL', where, 'chunk', chunk, 'must be { chunkLo, chunkHi, clipLo, clipHi }');
  const c = chunk as Record<keyof ReportChunk, unknown>;
  for (const k of ['chunkLo', 'chunkHi', 'clipLo', 'clipHi'] as const) {
    const v = c[k];
    if (typeof v !== 'bigint' || v < 0n || v > U64_LIMIT) throw IovaBitmapError.bad('EINVAL', where, `chunk.${k}`, v, 'must be a bigint in [0, 2^64]');
  }
  return chunk as ReportChunk;
}

/**
 * A source's own one-thread report of IOVA [iova, iova + length) (`readAndClearDirty` of both
 * sources): every check of {@link DirtySource.checkReport}, then the range as one chunk whose clip
 * range is itself.
 * @param where - the API named when iova or length is not a 64-bit integer
 * @throws IovaBitmapError as the source's checkReport; nothing is written then.
 */
export function reportRange(where: string, source: DirtySource, bitmap: IovaBitmap, iova: U64Like, length: U64Like, options: ReportOptions | undefined): SourceStats {
  const lo = toU64(where, 'iova', iova);
  const len = toU64(where, 'length', length);
  source.checkReport(bitmap, lo, len, options);
  return source.reportChunk(bitmap, { chunkLo: lo, chunkHi: lo + len, clipLo: lo, clipHi: lo + len }, options);
}

/** A fresh zeroed {@link SourceStats}. */
export function emptySourceStats(): SourceStats {
  return { entriesVisited: 0, dirtyLeaves: 0, bitsMarked: 0 };
}

const STAT_FIELDS = ['entriesVisited', 'dirtyLeaves', 'bitsMarked'] as const;

function checkStats(param: string, s: unknown): void {
  if (typeof s !== 'object' || s === null) throw IovaBitmapError.bad('EINVAL', 'addSourceStats', param, s, 'must be SourceStats');
  for (const k of STAT_FIELDS) {
    const v = (s as Record<string, unknown>)[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw IovaBitmapError.bad('EINVAL', 'addSourceStats', `${param}.${k}`, v, 'must be a finite number');
  }
}

/**
 * Adds `b` into `a` and returns `a`.
 * @throws IovaBitmapError `EINVAL` when either is not a SourceStats of finite numbers (a string
 *   field would be concatenated).
 */
export function addSourceStats(a: SourceStats, b: SourceStats): SourceStats {
  checkStats('a', a);
  checkStats('b', b);
  a.entriesVisited += b.entriesVisited;
  a.dirtyLeaves += b.dirtyLeaves;
  a.bitsMarked += b.bitsMarked;
  return a;
}
