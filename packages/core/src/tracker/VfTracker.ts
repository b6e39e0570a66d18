/**
 * VfTracker: a device-side dirty tracker, modelled on VFIO DMA logging as mlx5 implements it.
 *
 * Theory of operation
 * -------------------
 * What it models. A VF that logs its own DMA writes (docs/design/vfio-tracker.md): START hands it a
 * page size and up to 256 IOVA ranges; the device merges the ranges down to what its hardware holds
 * (smallest gap first), clamps the page size to its limits and reports that page size back; from
 * then on every DMA write into a tracked range is logged at tracker-page granularity; REPORT reads
 * the log into the caller's bitmap (`iova_bitmap_set(addr, tracked page size)` per record) and
 * clears what it read; STOP ends tracking. The checks are in ./trackerRanges.ts (START, in the
 * kernel's order: each range in turn, stopping at the first failure; the device's address-space
 * limits apply to the total length of the merged ranges, as in mlx5) and ./trackerReport.ts
 * (REPORT); a rejected call changes nothing. One rule is stricter than the kernel's START, on
 * purpose: the page size must be a power of two of at least 4 KiB (the kernel's START does not
 * check it, its REPORT does; see ./trackerRanges.ts for why).
 *
 * Data flow.
 *   start()  -> planTracking (VFIO checks, merge, clamp, span) -> TrackerMemory.allocate: a new
 *               SharedArrayBuffer with a header (started flag, page shift, ranges) and one bit per
 *               tracker page per tracked range, as Int32 words (./TrackerMemory.ts)
 *   dmaWrite -> 4 KiB page numbers -> TrackerMemory.writePages -> orBitRun (Atomics.or)
 *   report   -> checkReport once, then reportChunk per chunk (any thread, any order) -> readRuns
 *               (plain load, record the runs into the bitmap, then Atomics.and(~recorded))
 *
 * Concurrency. The device (dmaWrite, typically from a simulator thread) and any number of report
 * workers (reportChunk on disjoint chunks) run at once on views of the same memory. No record is
 * lost: the writer only ever ORs bits in; a reader clears, with one Atomics.and per dirty word,
 * exactly the bits it has already written into the bitmap, so a bit set after its load survives for
 * the next report. It never swaps a word to zero before recording (Atomics.exchange), which would
 * lose records if it failed in between. Zero words cost one plain load. See ./trackerKernel.ts.
 *
 * Sharing and lifetime. {@link VfTracker.share} gives a structured-cloneable descriptor whose
 * SharedArrayBuffer is shared, not copied; {@link VfTracker.fromShared} makes a full view of it in
 * another thread. A view stays valid until stop() (through any view: it clears the shared started
 * flag, which every view reads). start() after stop() allocates new memory, so views made before
 * must be re-shared.
 */
import { checkChunk, emptySourceStats, reportNoClear, reportRange, type DirtySource, type ReportChunk, type ReportOptions, type SourceStats, type WorkProfile } from '../DirtySource.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { IovaBitmap } from '../bitmap/IovaBitmap.js';
import { PAGE_SIZE, pageCeilOf, pageOf } from '../sizes.js';
import { checkInt, toU64, U64_LIMIT, type U64Like } from '../u64.js';
import { normalizeLimits, type VfDeviceLimits, type VfTrackerLimits } from './trackerLimits.js';
import { TrackerMemory } from './TrackerMemory.js';
import { planTracking, toSpans } from './trackerRanges.js';
import { checkTrackerReport, reportTrackerChunk } from './trackerReport.js';

/** Structured-cloneable descriptor of a started tracker; see {@link VfTracker.share}. */
export interface SharedVfTracker {
  readonly kind: 'VfTracker';
  /** The tracker's name. */
  readonly name: string;
  /** The device limits, defaults filled in. */
  readonly limits: VfDeviceLimits;
  /** The record memory of the current START (shared, not copied). */
  readonly buffer: SharedArrayBuffer;
}

/** Arguments of {@link VfTracker.start} (VFIO_DEVICE_FEATURE_DMA_LOGGING_START). */
export interface VfTrackerStartOptions {
  /** 1..256 disjoint IOVA ranges, bytes, aligned to `pageSize`, in any order. */
  readonly ranges: readonly { readonly iova: U64Like; readonly length: U64Like }[];
  /** Requested tracking page size, bytes: a power of two >= 4096. */
  readonly pageSize: U64Like;
}

/** What {@link VfTracker.start} settled on. */
export interface VfTrackerStartResult {
  /** Tracker page size in force, bytes (the request clamped to the device's limits). */
  pageSize: bigint;
  /** The tracked ranges, bytes: merged to at most maxRanges, sorted, disjoint. */
  ranges: { iova: bigint; length: bigint }[];
}

/**
 * A VF's own DMA dirty tracker; see the module comment.
 * @example
 * ```ts
 * import { IovaBitmap, VfTracker, reportDirty } from '@iovabitmap/core';
 *
 * const tracker = new VfTracker({ name: 'vf0' });
 * // The device merges ranges and clamps the page size to its limits; start() says what it chose.
 * const { pageSize } = tracker.start({ ranges: [{ iova: 0n, length: 1n << 30n }], pageSize: 8192 });
 * tracker.dmaWrite(100_000n, 1); // one byte: its 8 KiB tracker page is dirty
 * const bitmap = new IovaBitmap({ iova: 0n, length: 1n << 30n, pageSize: 4096 });
 * console.log(pageSize, reportDirty({ bitmap, sources: [tracker] }).bitsSet); // 8192n 2
 * tracker.stop();
 * ```
 */
export class VfTracker implements DirtySource {
  /** Source name, for stats and errors. */
  readonly name: string;
  /** The device limits in force (defaults filled in). */
  readonly limits: VfDeviceLimits;
  #mem: TrackerMemory | null = null;

  /**
   * @param limits - the device's limits; every field defaults (see {@link VfTrackerLimits})
   * @throws IovaBitmapError `EINVAL` for a bad limit, naming the field.
   */
  constructor(limits?: VfTrackerLimits) {
    this.limits = normalizeLimits(limits);
    this.name = this.limits.name;
  }

  #where(op: string): string {
    return `VfTracker(${this.name}).${op}`;
  }

  /** True between a successful start() and stop() (through any view of the same memory). */
  get started(): boolean {
    return this.#mem !== null && this.#mem.isStarted();
  }

  /** Tracker page size in force, bytes; 0n when stopped. */
  get pageSize(): bigint {
    return this.started ? 1n << BigInt(this.#mem!.pageShift) : 0n;
  }

  /** The tracked (merged) ranges, bytes; empty when stopped. */
  get ranges(): { iova: bigint; length: bigint }[] {
    return this.started ? toSpans(this.#mem!.ranges()) : [];
  }

  /**
   * DMA logging START: check, merge, clamp, allocate new record memory, and begin logging. The
   * ranges are checked one at a time in the order given (alignment, overflow, overlap with an
   * earlier range), and the first failure is the error, as in the kernel. The page size must be a
   * power of two of at least 4096: stricter than the kernel's START, which does not check it
   * (its REPORT does).
   * @returns the page size in force and the ranges actually tracked
   * @throws IovaBitmapError `EBUSY` already started; `EINVAL` no ranges, zero-length, misaligned or
   *   overlapping ranges, bad page size; `E2BIG` more than 256 ranges; `EOVERFLOW` a range past
   *   2^64; `EOPNOTSUPP` the total length of the merged ranges, log2 rounded up, outside
   *   [minSpanLog2, maxSpanLog2]; `ENOMEM` records too large. Nothing changes then.
   */
  start(options: VfTrackerStartOptions): VfTrackerStartResult {
    const where = this.#where('start');
    if (this.started) throw IovaBitmapError.bad('EBUSY', where, 'tracker', this.name, 'is already started; stop() it first');
    const plan = planTracking(where, options, this.limits);
    this.#mem = TrackerMemory.allocate(where, plan);
    return { pageSize: plan.pageSize, ranges: toSpans(plan.ranges) };
  }

  /**
   * DMA logging STOP: ends logging for every view of the current memory and drops it (unreported
   * records are lost, as on the device). Does nothing when not started.
   */
  stop(): void {
    this.#mem?.markStopped();
    this.#mem = null;
  }

  /**
   * The device writes IOVA bytes [iova, iova + length): logs the tracker pages it touches inside
   * the tracked ranges; the rest is ignored.
   * @returns the number of distinct tracker pages logged by this write (already set or not)
   * @throws IovaBitmapError `EINVAL`/`EOVERFLOW` for values that are not 64-bit integers.
   */
  dmaWrite(iova: U64Like, length: U64Like): number {
    const where = this.#where('dmaWrite');
    const lo = toU64(where, 'iova', iova);
    const len = toU64(where, 'length', length);
    if (len === 0n || this.#mem === null) return 0;
    let hi = lo + len;
    if (hi > U64_LIMIT) hi = U64_LIMIT;
    const first = pageOf(lo);
    return this.#mem.writePages(first, pageCeilOf(hi) - first);
  }

  /**
   * Numeric hot path of {@link dmaWrite}: the device writes 4 KiB pages [page, page + count),
   * i.e. IOVA bytes [page·4096, (page + count)·4096).
   * @param page - first 4 KiB page number (a safe integer >= 0)
   * @param count - number of 4 KiB pages (a safe integer >= 0)
   * @returns the number of distinct tracker pages logged
   * @throws IovaBitmapError `EINVAL` when page or count is not a non-negative safe integer.
   */
  dmaWritePages(page: number, count: number): number {
    checkInt(this.#where('dmaWritePages'), 'page', page, 0);
    checkInt(this.#where('dmaWritePages'), 'count', count, 0);
    return this.#mem === null ? 0 : this.#mem.writePages(page, count);
  }

  /**
   * DMA logging REPORT of IOVA [iova, iova + length) into `bitmap` on this thread: every record
   * overlapping the range, clipped to it, then cleared (unless `noClear`). The same call as
   * IoPageTable's.
   * @throws IovaBitmapError as {@link checkReport}; nothing is written then.
   */
  readAndClearDirty(bitmap: IovaBitmap, iova: U64Like, length: U64Like, options?: ReportOptions): SourceStats {
    return reportRange(this.#where('readAndClearDirty'), this, bitmap, iova, length, options);
  }

  /**
   * Validates a report (DirtySource), writing nothing.
   * @throws IovaBitmapError `EINVAL`: not started, not an IovaBitmap, bitmap page size below 4 KiB or
   *   not a power of two, zero length, range not covered by the bitmap; `EOVERFLOW`: iova + length
   *   past 2^64; `EFAULT`: the bitmap's ArrayBuffer was detached; `EINVAL` for options that are
   *   not `{ noClear?: boolean }`.
   */
  checkReport(bitmap: IovaBitmap, iova: bigint, length: bigint, options?: ReportOptions): void {
    const where = this.#where('checkReport');
    checkTrackerReport(where, this.name, this.#mem, bitmap, iova, length);
    reportNoClear(where, options);
  }

  /**
   * Reports the records one chunk owns (the ownership rule of ../DirtySource.ts) and clears them
   * unless `options.noClear`. Safe to call from many threads on different chunks at once.
   * @throws IovaBitmapError `EINVAL` when tracking stopped since checkReport, or for arguments of
   *   the wrong type; `EFAULT` (the bitmap's memory is gone).
   */
  reportChunk(bitmap: IovaBitmap, chunk: ReportChunk, options?: ReportOptions): SourceStats {
    const where = this.#where('reportChunk');
    if (!(bitmap instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', where, 'bitmap', bitmap, 'must be an IovaBitmap');
    const c = checkChunk(where, chunk);
    const noClear = reportNoClear(where, options);
    if (c.chunkHi <= c.chunkLo) return emptySourceStats();
    return reportTrackerChunk(where, this.name, this.#mem, bitmap, c, noClear);
  }

  /** Addresses of the tracker pages currently logged, sorted, bytes (for tests and tools; not a hot path). */
  recordedPages(): bigint[] {
    return this.started ? this.#mem!.recordedPages() : [];
  }

  /**
   * What a report of IOVA [iova, iova + length) reads, in record words: one record bit per
   * tracker page of the tracked ranges inside it, read 32 at a time (the report's kernel reads a
   * word and tests it whole: a clean word costs about what one PTE of a page table costs,
   * docs/bench/limits.md §9.5), and (when any) 4096 / pageSize / 32 words per 4 KiB page. The
   * parallel engine sizes its chunks and chooses its path with it; `undefined` when not started.
   * @throws IovaBitmapError `EINVAL`/`EOVERFLOW` for values that are not 64-bit integers.
   */
  workProfile(iova: bigint, length: bigint): WorkProfile | undefined {
    const lo = toU64(this.#where('workProfile'), 'iova', iova);
    const end = lo + toU64(this.#where('workProfile'), 'length', length);
    if (!this.started) return undefined;
    const T = this.pageSize;
    let pages = 0n;
    for (const r of this.ranges) {
      const a = r.iova > lo ? r.iova : lo;
      const b = r.iova + r.length < end ? r.iova + r.length : end;
      if (b > a) pages += (b - a + T - 1n) / T;
    }
    // Records are tracker pages, each read and cleared by the one chunk that owns it.
    return { entries: Math.ceil(Number(pages) / 32), peakEntriesPerPage: pages > 0n ? PAGE_SIZE / Number(T) / 32 : 0, unitShift: this.#mem!.pageShift };
  }

  /**
   * A descriptor for another thread; the memory is shared, not copied.
   * @throws IovaBitmapError `EINVAL` when not started (there is no memory before start()).
   */
  share(): SharedVfTracker {
    if (!this.started) throw IovaBitmapError.bad('EINVAL', this.#where('share'), 'tracker', this.name, 'is not started; its memory exists only after start()');
    return { kind: 'VfTracker', name: this.name, limits: this.limits, buffer: this.#mem!.buffer };
  }

  /**
   * A view over the memory of {@link share} output, valid until stop(). Every field is checked:
   * the limits as the constructor checks them, and the record memory's header and tables against
   * its buffer (./TrackerMemory.ts `open`).
   * @throws IovaBitmapError `EINVAL` for something that is not such a descriptor, naming the field.
   */
  static fromShared(d: SharedVfTracker): VfTracker {
    const W = 'VfTracker.fromShared';
    if (typeof d !== 'object' || d === null || d.kind !== 'VfTracker') {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor', d, 'is not a shared VfTracker descriptor');
    }
    const l = d.limits;
    if (typeof l !== 'object' || l === null) throw IovaBitmapError.bad('EINVAL', W, 'descriptor.limits', l, 'must be an object');
    const t = new VfTracker({ name: d.name, maxRanges: l.maxRanges, minPageSize: l.minPageSize, maxPageSize: l.maxPageSize, minSpanLog2: l.minSpanLog2, maxSpanLog2: l.maxSpanLog2 });
    t.#mem = TrackerMemory.open(t.#where('fromShared'), d.buffer);
    return t;
  }
}
