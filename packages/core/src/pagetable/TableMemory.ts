/**
 * The memory of an IOMMU page table: 4 KiB table pages in SharedArrayBuffer segments.
 *
 * Theory of operation
 * -------------------
 * A table page is 512 entries of 64 bits (1024 words of a Uint32Array). Pages live in segments,
 * each its own SharedArrayBuffer, created on demand and never freed while the table lives. A page
 * is named by its *table-page id* = segment * 2^14 + index in the segment; that id is what a table
 * entry stores in its address field (./pteFormats.ts). Segment s holds min(16 * 4^s, 2^14) pages
 * (64 KiB growing to 64 MiB), so a small table costs little and a large one few segments; the id
 * stride stays 2^14, so locating a page is a shift and a mask. Each segment has two word views
 * over the same memory: a Uint32Array (the codecs, map/unmap, the device) and an Int32Array (the
 * walk's block kernels, {@link TableMemory.wordsOf}; see ./leafScanKernels.ts for why).
 * Where WebAssembly is available the owner allocates a segment as a shared WebAssembly memory, and
 * its SharedArrayBuffer is that memory's `buffer`: the owner's walks then skip clean blocks in
 * WebAssembly (./leafSkipKernel.ts, {@link TableMemory.skipsOf}); otherwise, or when the engine
 * refuses the memory, it is a plain SharedArrayBuffer and the walk prescans in JavaScript (same
 * result). share() hands the memories on (`memories`, null for a plain segment), and a view walks
 * with the skip too, through instances its thread keeps per table (see skipsOf).
 *
 * Sharing: `segments` is the list of every segment so far; share() copies that list (the buffers
 * are shared, not copied), with the list of their WebAssembly memories. A view built from one share() sees every page that existed at that
 * moment; a page in a segment created later makes {@link TableMemory.view} throw `EIO` with a
 * request to share again (the engine re-shares for every report, so it never hits this).
 *
 * The scratch page. The last page of every segment is never handed out as a table page: it is
 * where the walks of that segment write what the WebAssembly table pass found
 * (./leafScanKernels.ts `scanBitTable`: a WebAssembly function writes only its own memory, and
 * the segment is that memory). Its first 128 bytes are 32 claim words; slot k (1 to 31) is the
 * 128 bytes at 128k, a leaf table's 16 (block, mask) pairs. A walk claims a slot in a segment
 * with Atomics.compareExchange (0 to 1) on its claim word the first time it walks a leaf table
 * there ({@link TableMemory.claimScratch}), and releases it (Atomics.store 0) when it ends, in a
 * `finally` (./TableWalk.ts `range`); so two walks, in any threads, never share a slot, and 31
 * walks of one segment can run at once. A walk that finds none free walks that segment with the
 * kernels that need no scratch (same result). A thread killed mid-walk leaves its slot claimed:
 * after 31 such deaths during walks of one segment, every walk there takes that path. The page
 * costs 4 KiB per segment (1/16 of the first, 64 KiB, segment; 1/16384 of a 64 MiB one).
 *
 * Owner-only state (allocation cursor, free list, per-page entry counts) exists only in the
 * instance that created the memory; map/unmap run there. Page 0 of segment 0 is the root.
 * A map reserves every page it may need first ({@link TableMemory.reserve}: all or nothing, and
 * never past {@link MAX_TABLE_BYTES}), so it cannot run out of memory half-way.
 *
 * The control block is a small SharedArrayBuffer: word 0 is the dirty-tracking flag (Atomics),
 * and three float64 slots mirror the owner's counters (table pages, leaves, mapped 4 KiB pages)
 * for memoryStats() on any view.
 *
 * The table's id ({@link TableMemory.tableId}): 64 random bits the owner draws, carried by share()
 * beside the buffers (not in them: code that copies one table's bytes into another must not copy
 * its identity), by which a thread recognises the table behind a view across reports (the
 * instances of its skips, ./leafSkipKernel.ts `viewSkipsFor`).
 */
import { bufferByteLength, bufferKind } from '../buffers.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { type LeafSkip, type SegmentMemory, isSegmentMemory, leafSkipFor, newSegmentMemory, viewSkipsFor } from './leafSkipKernel.js';

/** Entries per table page. */
export const ENTRIES_PER_TABLE = 512;
/** Bytes per table page. */
export const TABLE_PAGE_BYTES = 4096;
/** log2 of the id stride of one segment, in pages. */
const SEGMENT_ID_SHIFT = 14;
const SEGMENT_ID_MASK = (1 << SEGMENT_ID_SHIFT) - 1;
/** Pages in segment 0; each later segment is 4x larger, up to 2^14 pages (64 MiB). */
const FIRST_SEGMENT_PAGES = 16;
/** Ids stay below 2^31 (8 TiB of table), so id arithmetic stays in int32. */
const MAX_SEGMENTS = 2 ** (31 - SEGMENT_ID_SHIFT);
/**
 * Most table memory one table may hold, bytes: 16 GiB (8 TiB of IOVA mapped with 4 KiB leaves,
 * 4 PiB with 2 MiB leaves). SharedArrayBuffer memory is reserved lazily by the host, so
 * allocating a table far larger than the machine succeeds and the map then dies writing it (the
 * OOM killer); a documented limit checked before anything is allocated turns that into `ENOMEM`.
 */
export const MAX_TABLE_BYTES = 2 ** 34;

/** Id of the root table page (the first page allocated). */
export const ROOT_PAGE = 0;

/** Index of the tracking flag in {@link TableMemory.control}. */
export const CTRL_TRACKING = 0;
/** Indices in {@link TableMemory.stats}. */
const STAT_TABLE_PAGES = 0;
export const STAT_LEAVES = 1;
export const STAT_MAPPED_PAGES = 2;
const CONTROL_BYTES = 64;
const STATS_OFFSET = 16;
/** The form of a table id: 16 hex digits. */
const TABLE_ID = /^[0-9a-f]{16}$/;

/** Pages a segment holds. */
function segmentPages(s: number): number {
  return Math.min(FIRST_SEGMENT_PAGES * 4 ** Math.min(s, 8), 1 << SEGMENT_ID_SHIFT);
}

/** Table pages a segment can hand out: all but its last, the scratch page (module comment). */
function usablePages(s: number): number {
  return segmentPages(s) - 1;
}

/** Bytes of one scratch slot: 16 (block offset, mask) pairs, a leaf table's 16 blocks. */
const SCRATCH_SLOT_BYTES = 128;
/** Slots of a scratch page: its first 128 bytes are the claim words, slot k (1..31) follows at 128k. */
const SCRATCH_SLOTS = TABLE_PAGE_BYTES / SCRATCH_SLOT_BYTES;

/** Table pages, their segments, and the control block; see the module comment. */
export class TableMemory {
  /** Every segment so far (shared, never shrinks). */
  readonly segments: SharedArrayBuffer[];
  /** Word views of {@link segments}, same indices. */
  readonly views: Uint32Array[];
  /** Int32 views of {@link segments}, same indices: for the walk kernels (see {@link wordsOf}). */
  readonly words: Int32Array[];
  /** The WebAssembly memory of each segment (its buffer is the segment), or null; same indices. */
  readonly memories: (SegmentMemory | null)[];
  /** The skips of each segment's memory, got on first use ({@link skipsOf}). */
  #skips: (LeafSkip | null | undefined)[] = [];
  /** The table's id (module comment); '' in a view whose descriptor gave none (it walks in JavaScript). */
  readonly tableId: string;
  /** The control block's buffer. */
  readonly controlBuffer: SharedArrayBuffer;
  /** Int32 view of the control block (word {@link CTRL_TRACKING}). */
  readonly control: Int32Array;
  /** Float64 counters mirrored by the owner ({@link STAT_TABLE_PAGES}...). */
  readonly stats: Float64Array;
  /** True in the instance that allocates (the owner thread). */
  readonly owner: boolean;
  #counts: Uint16Array[] = [];
  #free: number[] = [];
  /** Segment the allocation cursor is in, and the next unused page there. */
  #cur = 0;
  #bump = 0;
  #inUse = 0;

  /**
   * A view over the memory of a shared table (from share() in any thread), after checking that the
   * descriptor's buffers have the shapes share() gives them: a SharedArrayBuffer control block of
   * 64 bytes, and 1 to 2^17 segments, segment s a SharedArrayBuffer of exactly
   * {@link segmentPages}(s) pages. (A forged segment of the right size holds whatever it holds:
   * walks read it as table entries, and a table id outside the segments gives `EIO`.)
   * @throws IovaBitmapError `EINVAL` naming the first field that does not fit.
   */
  static open(where: string, control: unknown, segments: unknown, memories?: unknown, tableId?: unknown): TableMemory {
    if (bufferKind(control) !== 'shared' || bufferByteLength(control as SharedArrayBuffer, 'shared') !== CONTROL_BYTES) {
      throw IovaBitmapError.bad('EINVAL', where, 'descriptor.control', control, `must be the table's SharedArrayBuffer control block of ${CONTROL_BYTES} bytes`);
    }
    if (!Array.isArray(segments) || segments.length === 0 || segments.length > MAX_SEGMENTS) {
      throw IovaBitmapError.bad('EINVAL', where, 'descriptor.segments', segments, `must be an array of 1 to ${MAX_SEGMENTS} SharedArrayBuffers`);
    }
    segments.forEach((b: unknown, s: number) => {
      const bytes = segmentPages(s) * TABLE_PAGE_BYTES;
      if (bufferKind(b) !== 'shared' || bufferByteLength(b as SharedArrayBuffer, 'shared') !== bytes) {
        throw IovaBitmapError.bad('EINVAL', where, `descriptor.segments[${s}]`, b, `must be a SharedArrayBuffer of ${bytes} bytes (segment ${s})`);
      }
    });
    let mems: (SegmentMemory | null)[] = segments.map(() => null);
    if (memories !== undefined) {
      if (!Array.isArray(memories) || memories.length !== segments.length) {
        throw IovaBitmapError.bad('EINVAL', where, 'descriptor.memories', memories, `must be an array of ${segments.length} entries (one per segment)`);
      }
      memories.forEach((m: unknown, s: number) => {
        const bytes = segmentPages(s) * TABLE_PAGE_BYTES;
        if (m !== null && !isSegmentMemory(m, bytes)) {
          throw IovaBitmapError.bad('EINVAL', where, `descriptor.memories[${s}]`, m, `must be null or a shared WebAssembly.Memory of ${bytes} bytes (segment ${s})`);
        }
      });
      mems = memories as (SegmentMemory | null)[];
    }
    if (tableId !== undefined && (typeof tableId !== 'string' || !TABLE_ID.test(tableId))) {
      throw IovaBitmapError.bad('EINVAL', where, 'descriptor.tableId', tableId, 'must be the 16 hex digits share() gives');
    }
    // A segment with a memory is that memory's buffer: the one the skip reads is the one the walk clears.
    const segs = (segments as SharedArrayBuffer[]).map((b, s) => (mems[s]?.buffer as SharedArrayBuffer | undefined) ?? b);
    return new TableMemory({ segments: segs, memories: mems, control: control as SharedArrayBuffer, tableId: tableId ?? '' });
  }

  /** A new memory with a zeroed root page, for the owner. */
  static create(): TableMemory {
    return new TableMemory();
  }

  /** A new memory with a zeroed root page (owner), or a view over shared segments (see {@link TableMemory.open}). */
  private constructor(shared?: { segments: readonly SharedArrayBuffer[]; memories: readonly (SegmentMemory | null)[]; control: SharedArrayBuffer; tableId: string }) {
    this.owner = shared === undefined;
    this.controlBuffer = shared?.control ?? new SharedArrayBuffer(CONTROL_BYTES);
    this.control = new Int32Array(this.controlBuffer, 0, STATS_OFFSET / 4);
    this.stats = new Float64Array(this.controlBuffer, STATS_OFFSET, 3);
    this.segments = shared === undefined ? [] : [...shared.segments];
    this.memories = shared === undefined ? [] : [...shared.memories];
    this.tableId = shared?.tableId ?? Array.from(globalThis.crypto.getRandomValues(new Uint8Array(8)), (x) => x.toString(16).padStart(2, '0')).join('');
    this.views = this.segments.map((b) => new Uint32Array(b));
    this.words = this.segments.map((b) => new Int32Array(b));
    if (this.owner) {
      this.#addSegment();
      this.allocPage();
    }
  }

  /** The word view holding table page `id` (see {@link offsetOf} for where). */
  view(id: number): Uint32Array {
    return this.views[id >>> SEGMENT_ID_SHIFT] ?? this.#unshared(id);
  }

  /**
   * {@link view} as an Int32Array (same memory, same word indices). The 4 KiB-leaf kernels read
   * low words through it: a word with bit 31 set (a physical address at or above 2 GiB) is then
   * an int32 like any other, where a Uint32Array load would yield a value that optimised code
   * speculating on small integers must deoptimise for (./leafScanKernels.ts).
   */
  wordsOf(id: number): Int32Array {
    return this.words[id >>> SEGMENT_ID_SHIFT] ?? this.#unshared(id);
  }

  /**
   * The WebAssembly skips over clean blocks for table page `id`'s segment (./leafSkipKernel.ts),
   * or null when the segment has no WebAssembly memory (the walk then prescans in JavaScript). The
   * owner makes its instances on first use. A view takes them from its thread's instances for this
   * table (`viewSkipsFor`, by the table's id): a worker builds a new view for every report, and
   * new instances at every report made the pool's walks slower at 1-100 % dirty
   * (docs/bench/pteWalk.md §8). A view whose descriptor gave no id walks in JavaScript.
   */
  skipsOf(id: number): LeafSkip | null {
    const s = id >>> SEGMENT_ID_SHIFT;
    const f = this.#skips[s];
    if (f !== undefined) return f;
    const m = this.memories[s];
    if (m === undefined) this.#unshared(id);
    let skip: LeafSkip | null = null;
    if (m !== null) {
      if (this.owner) skip = leafSkipFor(m);
      else if (this.tableId !== '') skip = viewSkipsFor(this.tableId, s, m);
    }
    return (this.#skips[s] = skip);
  }

  /**
   * Claims a scratch slot in the segment of table page `id` for this thread's walk (module
   * comment) and returns its byte offset in the segment, or -1 when all are taken (the walk then
   * uses the kernels that need none). Release it with {@link releaseScratch} when the walk ends.
   */
  claimScratch(id: number): number {
    const w = this.wordsOf(id);
    const page = usablePages(this.segmentOf(id)) << 10; // word index of the scratch page
    for (let k = 1; k < SCRATCH_SLOTS; k++) {
      if (Atomics.compareExchange(w, page + k, 0, 1) === 0) return (page << 2) + k * SCRATCH_SLOT_BYTES;
    }
    return -1;
  }

  /** Releases the slot at byte `slot` of table page `id`'s segment ({@link claimScratch}). */
  releaseScratch(id: number, slot: number): void {
    const page = slot & ~(TABLE_PAGE_BYTES - 1);
    Atomics.store(this.wordsOf(id), (page >> 2) + (slot - page) / SCRATCH_SLOT_BYTES, 0);
  }

  #unshared(id: number): never {
    throw new IovaBitmapError('EIO', `IoPageTable: table page ${id} is in a segment created after this view was shared; share() again`, {
      param: 'tablePage',
      value: String(id),
    });
  }

  /** The segment that holds table page `id`. */
  segmentOf(id: number): number {
    return id >>> SEGMENT_ID_SHIFT;
  }

  /** Word index of entry 0 of table page `id` in its segment's view. */
  offsetOf(id: number): number {
    return (id & SEGMENT_ID_MASK) << 10;
  }

  /** Table pages in use (owner: exact; view: the owner's last published count). */
  get pagesInUse(): number {
    return this.owner ? this.#inUse : this.stats[STAT_TABLE_PAGES]!;
  }

  /** How many segments are WebAssembly memories (the rest are plain SharedArrayBuffers). */
  get wasmSegments(): number {
    return this.memories.filter((m) => m !== null).length;
  }

  /** Bytes of SharedArrayBuffer reserved by the segments. */
  get reservedBytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.byteLength;
    return n;
  }

  #addSegment(): void {
    const s = this.segments.length;
    if (s >= MAX_SEGMENTS) throw new IovaBitmapError('ENOMEM', 'IoPageTable: table-page id space exhausted (8 TiB of tables)');
    const pages = segmentPages(s);
    let buf: SharedArrayBuffer;
    let counts: Uint16Array;
    const memory = newSegmentMemory(pages * TABLE_PAGE_BYTES) ?? null; // #addSegment is owner-only
    try {
      buf = (memory?.buffer as SharedArrayBuffer | undefined) ?? new SharedArrayBuffer(pages * TABLE_PAGE_BYTES);
      counts = new Uint16Array(pages);
    } catch (cause) {
      throw new IovaBitmapError('ENOMEM', `IoPageTable: cannot allocate a table segment of ${pages * TABLE_PAGE_BYTES} bytes`, { cause });
    }
    this.segments.push(buf);
    this.memories.push(memory);
    this.views.push(new Uint32Array(buf));
    this.words.push(new Int32Array(buf));
    this.#counts.push(counts);
  }

  /**
   * Makes sure `n` more pages can be allocated without creating a segment, so that a map that
   * passed its checks cannot fail half-way. All or nothing: on failure the segments it created
   * are dropped again. Owner only.
   * @param where - the API to name in the error
   * @throws IovaBitmapError `ENOMEM`, naming the bytes asked, when the table would pass
   *   {@link MAX_TABLE_BYTES} or a segment cannot be allocated.
   */
  reserve(where: string, n: number): void {
    const asked = n * TABLE_PAGE_BYTES;
    const total = (this.#inUse + n) * TABLE_PAGE_BYTES;
    if (total > MAX_TABLE_BYTES) {
      throw new IovaBitmapError(
        'ENOMEM',
        `${where}: needs up to ${asked} more bytes of page table (${total} in all), above the limit of ${MAX_TABLE_BYTES} bytes per table`,
        { param: 'length', value: `${asked} bytes of table` },
      );
    }
    let avail = this.#free.length + usablePages(this.#cur) - this.#bump;
    for (let s = this.#cur + 1; s < this.segments.length; s++) avail += usablePages(s);
    const had = this.segments.length;
    try {
      while (avail < n) {
        this.#addSegment();
        avail += usablePages(this.segments.length - 1);
      }
    } catch (cause) {
      this.segments.length = had;
      this.views.length = had;
      this.words.length = had;
      this.memories.length = had;
      this.#skips.length = Math.min(this.#skips.length, had);
      this.#counts.length = had;
      throw new IovaBitmapError('ENOMEM', `${where}: cannot allocate ${asked} bytes of page table`, {
        param: 'length',
        value: `${asked} bytes of table`,
        cause,
      });
    }
  }

  /** Allocates a zeroed table page and returns its id. Owner only. */
  allocPage(): number {
    let id: number;
    const f = this.#free.pop();
    if (f !== undefined) {
      id = f;
      const off = this.offsetOf(id);
      this.view(id).fill(0, off, off + 1024);
    } else {
      if (this.#bump >= usablePages(this.#cur)) {
        this.#cur++;
        this.#bump = 0;
        if (this.#cur === this.segments.length) this.#addSegment();
      }
      id = (this.#cur << SEGMENT_ID_SHIFT) + this.#bump++;
    }
    this.#inUse++;
    this.stats[STAT_TABLE_PAGES] = this.#inUse;
    return id;
  }

  /** Returns page `id` (now empty) to the free list. Owner only. */
  freePage(id: number): void {
    this.#counts[id >>> SEGMENT_ID_SHIFT]![id & SEGMENT_ID_MASK] = 0;
    this.#free.push(id);
    this.#inUse--;
    this.stats[STAT_TABLE_PAGES] = this.#inUse;
  }

  /** Present entries of table page `id` (owner bookkeeping). */
  count(id: number): number {
    return this.#counts[id >>> SEGMENT_ID_SHIFT]![id & SEGMENT_ID_MASK]!;
  }

  /** Adds `delta` to the present-entry count of page `id` and returns the new count. */
  addCount(id: number, delta: number): number {
    const c = this.#counts[id >>> SEGMENT_ID_SHIFT]!;
    const i = id & SEGMENT_ID_MASK;
    return (c[i] = c[i]! + delta);
  }
}
