/**
 * IoPageTable: an IOMMU I/O page table with hardware dirty bits, as a dirty source.
 *
 * Theory of operation
 * -------------------
 * What it models. The second-stage / v1 / stage-1 page table of an IOMMU whose hardware sets a
 * dirty bit in the leaf PTE a device writes through (VT-d SSADS, AMD HAD, SMMUv3 HTTU), and
 * iommufd's use of it: SET_DIRTY_TRACKING (enable = take a clean snapshot, then track) and
 * GET_DIRTY_BITMAP (read the dirty leaves into the caller's bitmap and clear them, or not with
 * NO_CLEAR). See docs/design/iommufd.md and docs/design/pte-formats.md.
 *
 * Layout. A 4- or 5-level radix tree (48- or 57-bit IOVA) of 4 KiB table pages of 512 64-bit
 * entries in SharedArrayBuffer segments (./TableMemory.ts), entries encoded bit-exactly in one of
 * three formats (./pteFormats.ts). Tables are created on demand and freed when emptied. Table
 * bytes per mapped GiB (plus the near-empty upper levels: a few pages in all):
 *   - 4 KiB leaves: 2 MiB of leaf tables + 4 KiB of level-2 table  (64 GiB -> 128.3 MiB)
 *   - 2 MiB leaves: 4 KiB (one level-2 table) + 8 B of level 3      (1 TiB -> 4 MiB)
 *   - 1 GiB leaves: 8 B (one level-3 entry; a 4 KiB table per 512 GiB)
 *   - amd-v1 replicated 8 KiB..1 MiB leaves as 4 KiB, 4 MiB..512 MiB as 2 MiB (one entry per
 *     replica).
 * A table holds at most MAX_TABLE_BYTES (16 GiB, ./TableMemory.ts) of table pages: a map that
 * could pass it (64 TiB of 4 KiB leaves would need 128 GiB) is `ENOMEM`, naming the bytes, before
 * anything is allocated or written.
 *
 * Threads. The owner (the instance built by the constructor) is the only one that may map and
 * unmap (owner-thread-only: plain stores and owner-side bookkeeping; views throw EOPNOTSUPP).
 * Any thread may, through a view from {@link IoPageTable.fromShared}:
 *   - walk (reportChunk: many chunks, many threads at once; chunks tile the clip range and the
 *     ownership rule of ../DirtySource.ts makes each leaf reported once),
 *   - write as a device (dmaWrite/dmaWritePages: atomic on the PTE's low word; safe during walks),
 *   - switch tracking (the flag lives in the shared control block).
 * A view sees the segments that existed at its share(); share again after mapping more (the
 * engine re-shares every report). Map/unmap must not run during a walk of the same table.
 *
 * Invariants.
 * 1. Record before clear: a dirty bit is cleared only after its pages are in the bitmap (plain
 *    read, record, then a plain store per dirty entry that changes only the dirty state: safe
 *    because no other thread changes a dirty entry, see ./leafScanKernels.ts). A failure in
 *    between duplicates a report, never loses one; entries that become dirty after the read are
 *    not cleared.
 * 2. A rejected call writes nothing: every check (./rangeChecks.ts, the owner's interval list of
 *    mapped areas ./MappedAreas.ts, reserving table pages) runs before the first store. A second
 *    list holds the writable areas; share() hands both out, so that a device can refuse to write
 *    where the IOMMU would not mark a page (workers' DeviceEngine).
 * 3. Cost follows what is mapped: walks and checks never visit absent subtrees' contents; the hole
 *    check of a report is a binary search, not a walk.
 * 4. New leaves are clean; dirty marks are made only while tracking is on (hardware A/D updates
 *    are off otherwise), only on present writable leaves.
 */
import { checkChunk, emptySourceStats, reportNoClear, reportRange, type DirtySource, type ReportChunk, type ReportOptions, type SourceStats, type WorkProfile } from '../DirtySource.js';
import { IovaBitmapError, MAX_NAME_CHARS } from '../IovaBitmapError.js';
import { IovaBitmap } from '../bitmap/IovaBitmap.js';
import { PAGE_SHIFT, PAGE_SIZE, pageCeilOf, pageIova, pageOf } from '../sizes.js';
import { checkInt, log2Exact, toU64, type U64Like } from '../u64.js';
import { LeafSink } from './DirtyLeafSink.js';
import { LeafAreas } from './LeafAreas.js';
import { MappedAreas } from './MappedAreas.js';
import { codecOf, leafLevel, SPAN, type PteCodec, type PteFormat } from './pteFormats.js';
import { addressLimit, checkPageRange, checkWriteRange } from './rangeChecks.js';
import { readLeafTables as readMemoryLeafTables, TableWalk } from './TableWalk.js';
import type { IoMapOptions, IoPageTableMemoryStats, IoPageTableOptions, SharedIoPageTable } from './pageTableTypes.js';
import { TableEditor } from './TableEditor.js';
import { CTRL_TRACKING, STAT_LEAVES, STAT_MAPPED_PAGES, TableMemory, TABLE_PAGE_BYTES } from './TableMemory.js';

export type { IoMapOptions, IoPageTableMemoryStats, IoPageTableOptions, SharedIoPageTable } from './pageTableTypes.js';
export type { PteFormat } from './pteFormats.js';

const WHERE = 'IoPageTable';

const FROM_SHARED = Symbol('IoPageTable.fromShared');
type InternalOptions = IoPageTableOptions & { [FROM_SHARED]?: SharedIoPageTable };

/** Reads a table's private memory for {@link readLeafTables}; set by the class's static block. */
let leafTablesOf: (t: IoPageTable) => { tables: number; or: number };
let wasmSegmentsOf: (t: IoPageTable) => number;

/**
 * An IOMMU page table with dirty bits; see the module comment.
 * @example
 * ```ts
 * import { IoPageTable, IovaBitmap, reportDirty } from '@iovabitmap/core';
 *
 * const GiB = 1n << 30n;
 * const table = new IoPageTable({ format: 'smmu-v3', name: 'iommu' });
 * table.map(0n, 2n * GiB, { leaf: 4096n }); // 4 KiB leaves
 * table.map(2n * GiB, 2n * GiB, { leaf: GiB }); // two 1 GiB leaves
 * table.setDirtyTracking(true);
 * table.dmaWrite(12_288n, 1); // one 4 KiB leaf dirty
 * table.dmaWrite(3n * GiB, 1); // a whole 1 GiB leaf dirty: 262144 pages
 * const bitmap = new IovaBitmap({ iova: 0n, length: 4n * GiB, pageSize: 4096 });
 * console.log(reportDirty({ bitmap, sources: [table] }).bitsSet); // 262145
 * ```
 */
export class IoPageTable implements DirtySource {
  /** Name for stats and errors. */
  readonly name: string;
  /** The PTE format. */
  readonly format: PteFormat;
  /** Table levels (4: 48-bit IOVA, 5: 57-bit). */
  readonly levels: 4 | 5;
  readonly #codec: PteCodec;
  readonly #mem: TableMemory;
  readonly #edit: TableEditor;
  readonly #areas: MappedAreas;
  /** The writable part of {@link #areas} (a read-only leaf is never marked dirty). */
  readonly #writable: MappedAreas;
  /** Owner-side runs by entry size, for {@link IoPageTable.workProfile}; empty on views. */
  readonly #leafAreas = new LeafAreas();
  readonly #pageLimit: number;
  #leaves = 0;
  #mappedPages = 0;

  /**
   * An empty table (only the root page), dirty tracking off.
   * @throws IovaBitmapError `EOPNOTSUPP` (unknown format), `EINVAL` (bad levels or name: a
   *   non-empty string of at most 64 characters, as it goes into error messages).
   */
  constructor(options: IoPageTableOptions) {
    const o = options as InternalOptions;
    if (typeof o !== 'object' || o === null) throw IovaBitmapError.bad('EINVAL', WHERE, 'options', o, 'must be an object');
    const codec = codecOf(o.format);
    if (codec === undefined) throw IovaBitmapError.bad('EOPNOTSUPP', WHERE, 'format', o.format, "must be 'vtd-ss', 'amd-v1' or 'smmu-v3'");
    const levels = o.levels ?? 4;
    if (levels !== 4 && levels !== 5) throw IovaBitmapError.bad('EINVAL', WHERE, 'levels', levels, 'must be 4 or 5');
    const name = o.name ?? 'iommu';
    if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_CHARS) {
      throw IovaBitmapError.bad('EINVAL', WHERE, 'name', name, `must be a non-empty string of at most ${MAX_NAME_CHARS} characters`);
    }
    this.name = name;
    this.format = codec.format;
    this.levels = levels;
    this.#codec = codec;
    this.#pageLimit = pageOf(addressLimit(levels));
    const d = o[FROM_SHARED];
    const W = WHERE + '.fromShared';
    this.#mem = d === undefined ? TableMemory.create() : TableMemory.open(W, d.control, d.segments, d.memories, d.tableId);
    this.#areas = d === undefined ? new MappedAreas() : MappedAreas.fromFlat(W, d.areas, this.#pageLimit);
    this.#writable = d === undefined ? new MappedAreas() : MappedAreas.fromFlat(W, d.writableAreas, this.#pageLimit, 'writableAreas');
    this.#edit = new TableEditor(this.#mem, codec, levels);
  }

  /**
   * A view over the memory of a shared table (typically in a worker): walks, device writes and
   * tracking; map/unmap stay with the owner. Every field of the descriptor is checked against
   * what share() gives (./TableMemory.ts `open`, ./MappedAreas.ts `fromFlat`).
   * @throws IovaBitmapError `EINVAL` for something that is not a shared IoPageTable (naming the
   *   field: a control block or a segment of the wrong size or kind, areas that are not sorted
   *   page pairs, a bad name or levels), `EOPNOTSUPP` for an unknown format.
   */
  static fromShared(d: SharedIoPageTable): IoPageTable {
    if (typeof d !== 'object' || d === null || d.kind !== 'IoPageTable') {
      throw IovaBitmapError.bad('EINVAL', WHERE + '.fromShared', 'descriptor', d, 'is not a shared IoPageTable descriptor');
    }
    return new IoPageTable({ format: d.format, levels: d.levels, name: d.name, [FROM_SHARED]: d } as InternalOptions);
  }

  /** Describes this table for a worker; the memory is shared, not copied. */
  share(): SharedIoPageTable {
    return {
      kind: 'IoPageTable',
      name: this.name,
      format: this.format,
      levels: this.levels,
      control: this.#mem.controlBuffer,
      segments: [...this.#mem.segments],
      memories: [...this.#mem.memories],
      tableId: this.#mem.tableId,
      areas: this.#areas.toFlat(),
      writableAreas: this.#writable.toFlat(),
    };
  }

  #ownerOnly(where: string): void {
    if (!this.#mem.owner) throw new IovaBitmapError('EOPNOTSUPP', `${where}: map/unmap are owner-thread-only; this is a shared view`);
  }

  /**
   * Maps IOVA [iova, iova + length) with leaves of one size, clean.
   * @param iova - bytes, aligned to the leaf size
   * @param length - bytes, > 0, a multiple of the leaf size
   * @throws IovaBitmapError `EINVAL` (unaligned, zero, leaf not a power of two, overlaps a mapping,
   *   on a view: `EOPNOTSUPP`), `EOPNOTSUPP` (leaf size the format lacks), `EOVERFLOW` (past the
   *   address width), `ENOMEM` naming the table bytes asked (the table would pass
   *   MAX_TABLE_BYTES, 16 GiB, or they cannot be allocated). Nothing is written then.
   */
  map(iova: U64Like, length: U64Like, options: IoMapOptions): void {
    const W = WHERE + '.map';
    this.#ownerOnly(W);
    const r = checkPageRange(W, iova, length, this.levels);
    if (typeof options !== 'object' || options === null) throw IovaBitmapError.bad('EINVAL', W, 'options', options, 'must be an object');
    const leaf = toU64(W, 'leaf', options.leaf);
    const shift = log2Exact(leaf);
    if (shift < 0) throw IovaBitmapError.bad('EINVAL', W, 'leaf', leaf, 'must be a power of two');
    if (!this.#codec.leafShifts.includes(shift)) {
      throw IovaBitmapError.bad('EOPNOTSUPP', W, 'leaf', leaf, `is not a page size of ${this.format} (${this.#codec.leafShifts.map((s) => 2 ** s).join(', ')})`);
    }
    const writable = options.writable ?? true;
    if (typeof writable !== 'boolean') throw IovaBitmapError.bad('EINVAL', W, 'writable', writable, 'must be a boolean');
    const mask = leaf - 1n;
    if ((r.iova & mask) !== 0n) throw IovaBitmapError.bad('EINVAL', W, 'iova', r.iova, `must be aligned to the leaf size ${leaf}`);
    if (((r.end - r.iova) & mask) !== 0n) throw IovaBitmapError.bad('EINVAL', W, 'length', r.end - r.iova, `must be a multiple of the leaf size ${leaf}`);
    if (this.#areas.overlaps(r.first, r.last)) {
      throw IovaBitmapError.bad('EINVAL', W, 'iova', r.iova, `overlaps an existing mapping in [${r.iova}, ${r.end})`);
    }
    const level = leafLevel(shift);
    this.#mem.reserve(W, this.#edit.tablesNeeded(r.first, r.last, level));
    const groupPages = 2 ** (shift - PAGE_SHIFT);
    this.#edit.map(r.first, r.last, { level, groupPages, writable });
    this.#areas.add(r.first, r.last);
    if (writable) this.#writable.add(r.first, r.last);
    this.#leafAreas.add(r.first, r.last, SPAN[level]!);
    this.#count((r.last - r.first) / groupPages, r.last - r.first);
  }

  /**
   * Unmaps every leaf in IOVA [iova, iova + length); unmapped parts of the range are ignored.
   * Tables left empty are freed.
   * @throws IovaBitmapError `EINVAL` (unaligned, zero, the range cuts a leaf; on a view:
   *   `EOPNOTSUPP`), `EOVERFLOW`. Nothing is written then.
   */
  unmap(iova: U64Like, length: U64Like): void {
    const W = WHERE + '.unmap';
    this.#ownerOnly(W);
    const r = checkPageRange(W, iova, length, this.levels);
    const head = this.#edit.leafAt(r.first);
    if (head !== undefined && head.start < r.first) {
      throw IovaBitmapError.bad('EINVAL', W, 'iova', r.iova, `cuts the ${head.pages * PAGE_SIZE}-byte leaf at ${pageIova(head.start)}`);
    }
    const tail = this.#edit.leafAt(r.last - 1);
    if (tail !== undefined && tail.start + tail.pages > r.last) {
      throw IovaBitmapError.bad('EINVAL', W, 'length', r.end - r.iova, `makes the range end inside the ${tail.pages * PAGE_SIZE}-byte leaf at ${pageIova(tail.start)}`);
    }
    const gone = this.#edit.unmap(r.first, r.last);
    this.#areas.remove(r.first, r.last);
    this.#writable.remove(r.first, r.last);
    this.#leafAreas.remove(r.first, r.last);
    this.#count(-gone.leaves, -gone.pages);
  }

  /**
   * The leaf that maps `iova`, or `undefined` when nothing does: its first IOVA and its size in
   * bytes (a replicated amd-v1 page as a whole). A table lookup; works on views too. The
   * migration checker uses it to know how far a dirty huge leaf legitimately widens a report.
   * @throws IovaBitmapError `EINVAL`/`EOVERFLOW` for an IOVA that is not a 64-bit integer.
   */
  leafAt(iova: U64Like): { iova: bigint; size: bigint } | undefined {
    const x = toU64(WHERE + '.leafAt', 'iova', iova);
    if (x >= pageIova(this.#pageLimit)) return undefined;
    const leaf = this.#edit.leafAt(pageOf(x));
    return leaf === undefined ? undefined : { iova: pageIova(leaf.start), size: pageIova(leaf.pages) };
  }

  /**
   * What a walk of IOVA [iova, iova + length) reads: leaf-level entries, and the most entries per
   * 4 KiB page anywhere in it (see ./LeafAreas.ts). The parallel engine sizes its chunks with it.
   * Owner only: a view built by {@link IoPageTable.fromShared} returns `undefined`.
   * @throws IovaBitmapError `EINVAL`/`EOVERFLOW` for values that are not 64-bit integers.
   */
  workProfile(iova: bigint, length: bigint): WorkProfile | undefined {
    const lo = toU64(WHERE + '.workProfile', 'iova', iova);
    const len = toU64(WHERE + '.workProfile', 'length', length);
    if (!this.#mem.owner) return undefined;
    const first = pageOf(lo);
    const end = pageCeilOf(lo + len);
    // Records are leaves and 4 KiB pages of leaves, each owned by one chunk: whole 4 KiB units.
    return { ...this.#leafAreas.profile(Math.min(first, this.#pageLimit), Math.min(end, this.#pageLimit)), unitShift: PAGE_SHIFT };
  }

  #count(leaves: number, pages: number): void {
    this.#leaves += leaves;
    this.#mappedPages += pages;
    this.#mem.stats[STAT_LEAVES] = this.#leaves;
    this.#mem.stats[STAT_MAPPED_PAGES] = this.#mappedPages;
  }

  /**
   * A device's DMA write to bytes [iova, iova + length) (any alignment): marks the covering
   * present, writable leaves dirty, atomically; a no-op while tracking is off.
   * @returns the leaves marked (already-dirty ones included; a replicated page counts once)
   * @throws IovaBitmapError `EINVAL` (not an integer), `EOVERFLOW` (past the address width).
   */
  dmaWrite(iova: U64Like, length: U64Like): number {
    const r = checkWriteRange(WHERE + '.dmaWrite', iova, length, this.levels);
    return r === undefined ? 0 : this.dmaWritePages(r.first, r.last - r.first);
  }

  /**
   * {@link dmaWrite} in 4 KiB page numbers: pages [page, page + count). The device simulator's
   * hot path: no bigint.
   * @throws IovaBitmapError `EINVAL` (not non-negative integers), `EOVERFLOW` (past the width).
   */
  dmaWritePages(page: number, count: number): number {
    checkInt(WHERE + '.dmaWritePages', 'page', page, 0);
    checkInt(WHERE + '.dmaWritePages', 'count', count, 0);
    if (page + count > this.#pageLimit) {
      throw IovaBitmapError.bad('EOVERFLOW', WHERE + '.dmaWritePages', 'count', count, `takes page ${page} past the address width`);
    }
    if (count === 0 || Atomics.load(this.#mem.control, CTRL_TRACKING) === 0) return 0;
    return this.#edit.mark(page, page + count);
  }

  /**
   * Turns dirty tracking on or off (state shared by every view). Turning it on first clears every
   * dirty bit (a clean snapshot, as iommufd does), then enables marking.
   * @throws IovaBitmapError `EINVAL` for a non-boolean.
   */
  setDirtyTracking(on: boolean): void {
    if (typeof on !== 'boolean') throw IovaBitmapError.bad('EINVAL', WHERE + '.setDirtyTracking', 'on', on, 'must be a boolean');
    if (on) new TableWalk(this.#mem, this.#codec, this.levels, new LeafSink(), true).range(0, this.#pageLimit);
    Atomics.store(this.#mem.control, CTRL_TRACKING, on ? 1 : 0);
  }

  /** True while dirty tracking is on. */
  get dirtyTracking(): boolean {
    return Atomics.load(this.#mem.control, CTRL_TRACKING) !== 0;
  }

  /**
   * GET_DIRTY_BITMAP on one thread: validates, then records every dirty leaf overlapping IOVA
   * [iova, iova + length) into `bitmap` (clipped to the range) and clears it unless `noClear`.
   * @throws IovaBitmapError as {@link checkReport}; nothing is written then.
   */
  readAndClearDirty(bitmap: IovaBitmap, iova: U64Like, length: U64Like, options?: ReportOptions): SourceStats {
    return reportRange(WHERE + '.readAndClearDirty', this, bitmap, iova, length, options);
  }

  /**
   * Validates a report of IOVA [iova, iova + length) into `bitmap`; writes nothing.
   * @throws IovaBitmapError `EOVERFLOW` (past the address width, or a zero length: the kernel's
   *   iova + length - 1 wraps), `EINVAL` (unaligned to 4 KiB or to the bitmap's page size; a
   *   bitmap that does not cover the range; tracking off),
   *   `ENOENT` (a hole in the range, named by its IOVA; the kernel drops this error, we report it),
   *   `EFAULT` (the bitmap's ArrayBuffer was detached).
   */
  checkReport(bitmap: IovaBitmap, iova: bigint, length: bigint, options?: ReportOptions): void {
    const W = WHERE + '.checkReport';
    if (!(bitmap instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', W, 'bitmap', bitmap, 'must be an IovaBitmap');
    bitmap.checkMemory(W);
    reportNoClear(W, options);
    const r = checkPageRange(W, iova, length, this.levels, 'EOVERFLOW');
    const ps = bitmap.pageSize - 1n;
    if ((r.iova & ps) !== 0n) throw IovaBitmapError.bad('EINVAL', W, 'iova', r.iova, `must be aligned to the bitmap's page size ${bitmap.pageSize}`);
    if ((r.end & ps) !== 0n) throw IovaBitmapError.bad('EINVAL', W, 'length', r.end - r.iova, `must end aligned to the bitmap's page size ${bitmap.pageSize}`);
    if (r.iova < bitmap.iova || r.end > bitmap.end) {
      throw IovaBitmapError.bad('EINVAL', W, 'bitmap', `[${bitmap.iova}, ${bitmap.end})`, `does not cover the range [${r.iova}, ${r.end})`);
    }
    if (!this.dirtyTracking) throw new IovaBitmapError('EINVAL', `${W}: dirty tracking is off for ${this.name}`, { param: 'tracking', value: 'false' });
    const hole = this.#areas.firstHole(r.first, r.last);
    if (hole >= 0) {
      throw IovaBitmapError.bad('ENOENT', W, 'iova', pageIova(hole), `is a hole (not mapped) inside the range [${r.iova}, ${r.end})`);
    }
  }

  /**
   * Walks the leaves owned by `chunk` (ownership rule of ../DirtySource.ts), records each dirty one
   * clipped to [clipLo, clipHi), then clears it unless `noClear`. Assumes checkReport passed for
   * the clip range.
   * @throws IovaBitmapError `EINVAL` for arguments of the wrong type (a chunk that is not four
   *   bigints, a non-boolean noClear), `EFAULT` (the bitmap's memory is gone).
   */
  reportChunk(bitmap: IovaBitmap, chunk: ReportChunk, options?: ReportOptions): SourceStats {
    const W = WHERE + '.reportChunk';
    if (!(bitmap instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', W, 'bitmap', bitmap, 'must be an IovaBitmap');
    const { chunkLo, chunkHi, clipLo, clipHi } = checkChunk(W, chunk);
    const clear = !reportNoClear(W, options);
    bitmap.checkMemory(W);
    const lo = chunkLo > clipLo ? chunkLo : clipLo;
    const hi = chunkHi < clipHi ? chunkHi : clipHi;
    if (lo >= hi) return emptySourceStats();
    const sink = new LeafSink(bitmap, clipLo, clipHi);
    const walk = new TableWalk(this.#mem, this.#codec, this.levels, sink, clear);
    sink.open();
    try {
      if (clipLo >= chunkLo && clipLo < chunkHi) walk.headLeaf(pageOf(clipLo));
      walk.range(pageCeilOf(lo), pageCeilOf(hi));
    } finally {
      sink.close(); // the deferred summary marks (./DirtyLeafSink.ts)
    }
    return { entriesVisited: walk.entriesVisited, dirtyLeaves: sink.dirtyLeaves, bitsMarked: sink.bitsMarked };
  }

  /** Table memory and mapping counters (a view reads the owner's last published values). */
  memoryStats(): IoPageTableMemoryStats {
    const mem = this.#mem;
    const tablePages = mem.pagesInUse;
    const owner = mem.owner;
    return {
      tablePages,
      tableBytes: tablePages * TABLE_PAGE_BYTES,
      mappedBytes: pageIova(owner ? this.#mappedPages : mem.stats[STAT_MAPPED_PAGES]!),
      leaves: owner ? this.#leaves : mem.stats[STAT_LEAVES]!,
      reservedBytes: mem.reservedBytes,
    };
  }

  static {
    /** `t`, once it is known to be an IoPageTable (the internal aids below take any value). */
    const tableOf = (where: string, t: unknown): IoPageTable => {
      if (typeof t !== 'object' || t === null || !(#mem in t)) throw IovaBitmapError.bad('EINVAL', where, 'table', t, 'must be an IoPageTable');
      return t;
    };
    leafTablesOf = (x) => {
      const t = tableOf('readLeafTables', x);
      return readMemoryLeafTables(t.#mem, t.#codec, t.levels);
    };
    wasmSegmentsOf = (x) => tableOf('wasmSegments', x).#mem.wasmSegments;
  }
}

/**
 * Internal (`@iovabitmap/core/internal`), a benchmark aid: reads the low word of every entry of
 * every 4 KiB-leaf table of `table` (the memory a 4 KiB-leaf walk reads), OR-reduced, to measure
 * read bandwidth over the same memory.
 * @returns the level-1 tables read and the OR of the words
 * @throws IovaBitmapError `EINVAL` when `table` is not an IoPageTable.
 */
export function readLeafTables(table: IoPageTable): { tables: number; or: number } {
  return leafTablesOf(table);
}

/**
 * Internal (`@iovabitmap/core/internal`), a test aid: how many of `table`'s segments are
 * WebAssembly memories, walked with the WebAssembly skip (./leafSkipKernel.ts); for a view, those
 * its descriptor's `memories` gave.
 * @throws IovaBitmapError `EINVAL` when `table` is not an IoPageTable.
 */
export function wasmSegments(table: IoPageTable): number {
  return wasmSegmentsOf(table);
}
