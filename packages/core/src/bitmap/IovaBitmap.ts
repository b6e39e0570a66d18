/**
 * IovaBitmap: the user's dirty bitmap, one bit per IOVA page, in a SharedArrayBuffer.
 *
 * Theory of operation
 * -------------------
 * What it models. The `data` buffer of IOMMU_HWPT_GET_DIRTY_BITMAP / VFIO DMA logging REPORT:
 * the caller owns the memory, the reporter only ever *sets* bits in it. Bit k stands for the IOVA
 * page [iova + k * pageSize, iova + (k + 1) * pageSize) and is bit k % 8 of byte
 * byteOffset + floor(k / 8) (the uAPI layout; identical to bit k % 64 of u64 word k / 64 on a
 * little-endian host).
 *
 * Arithmetic (checked and converted in ./bitmapGeometry.ts). IOVAs are exact 64-bit values (bigint)
 * at the API; the constructor turns them into a bit count `nbits` and a page shift, and every hot
 * path works on bit indices as numbers. The
 * bit of an IOVA x is (x - iova) >> pageShift, as in the kernel after cb30dfa75d55 (a shift, so a
 * pageSize of 2^63 cannot overflow a multiplication or divide by zero). `set(x, len)` marks bits
 * bit(x) .. bit(x + len - 1), clipped to the bitmap: a range smaller than a page marks its page,
 * and a range straddling two pages marks both (the v6.1 original missed that case).
 *
 * Windows. See ./windows.ts: the bitmap memory is cut at 4 KiB boundaries of the buffer into
 * windows of at most `windowPages` pages, exactly like the kernel's pinning. The parallel engine
 * hands out work per window.
 *
 * Memory. A store to a typed array whose memory is gone is dropped without a word, so a bitmap
 * whose memory could vanish would let a report read and clear its sources and record nothing:
 * lost dirty pages. Hence the rule: the memory is a SharedArrayBuffer (it can never be detached,
 * and a growable one only grows), or a non-resizable ArrayBuffer; a resizable ArrayBuffer, which
 * can shrink under the bitmap, is refused. A plain ArrayBuffer can still be detached (transferred
 * by postMessage or structuredClone), so {@link IovaBitmap.checkMemory} tests for that (a flag test
 * for shared memory; a length test for plain memory) and every write and every reader that returns
 * data runs it first: a detached bitmap gives `EFAULT`, never a silent no-op. Every dirty source
 * runs it in its checkReport, before anything is read or cleared. Checking once at the start of a
 * report is enough: a buffer is detached only by code running on its own thread (a transfer is a
 * synchronous call), and a one-thread report is synchronous code from checkReport to its last
 * chunk, so nothing can detach the buffer in between (the parallel engine needs shared memory,
 * which cannot be detached at all). So the walks pay no length test per word or per mask:
 * `setBits` / `setUnits` (per run) cost a flag test for shared memory, and `orMask`, the walks'
 * per-32-bit write, checks nothing up front: its every store is an Atomics.or, which throws on
 * detached memory, and that failure is turned into `EFAULT`.
 *
 * Fresh memory of 64 KiB of bitmap or more is a shared WebAssembly memory, whose buffer is the
 * bitmap's (rounded up to whole 64 KiB pages, the rest never written): the walk's sink then ORs a
 * leaf table's masks in WebAssembly, a locked instruction each, where JavaScript's Atomics.or is a
 * call of about 10 ns on V8 11.3 (./bitmapKernel.ts). share() hands the memory on beside the
 * buffer, and fromShared() accepts it only as that buffer's memory; without it a view takes
 * Atomics.or, with the same bits.
 *
 * Summary. Beside the caller's bytes (which keep the uAPI layout) each bitmap has a summary in its
 * own SharedArrayBuffer: one bit per block of 64 bytes of bitmap words, set when the block may hold
 * set bits (./bitSummary.ts: the block size, the ordering rule, the proof). Every write marks it
 * after its data; `count`, `countBits`, `dirtyRanges`, `clear` and `orInto` visit only marked
 * blocks, so they cost what is dirty plus the summary (1/512 of the bitmap), and `snapshot` /
 * `equals` still read every byte. `share()` carries the summary, so every view of the memory, in
 * any thread, marks and reads the same one. A bitmap over fresh memory starts with a clear
 * summary. A bitmap over a caller's `buffer` starts with every block *marked*, not with a scan: the
 * memory may hold bits (a bitmap handed over by someone else), a scan at construction would cost a
 * whole pass that most callers (who pass zeroed memory, or clear() first) do not need, and marked
 * blocks only cost reads; the first `clear()` makes the summary exact, and `rescan()` rebuilds it
 * (one read of the memory, never a write). The same `rescan()` is the caller's tool after writing
 * the buffer directly: such writes are not in the summary, and the readers skip them until then.
 * The summary may over-approximate (a marked block with no bit set), never under-approximate
 * once writers have stopped. The internal option `[BITMAP_SUMMARY]` (core/internal) turns it off
 * or changes the block size, for the benchmarks' `engine-flat`.
 *
 * Invariants.
 * 1. Nothing outside bits [0, nbits) is ever written: not the bytes around the bitmap, not the
 *    unused high bits of its last byte (the kernel can write there; we do not).
 * 2. A rejected call writes nothing: every check runs before the first store.
 * 3. Concurrency: any number of threads may set bits through their own views (see
 *    {@link IovaBitmap.share} / {@link IovaBitmap.fromShared}) and no bit is lost: edge words are
 *    written with Atomics.or, whole words with idempotent all-ones stores (see ./bitKernels.ts).
 *    `clear()` racing with a set may or may not keep that set; a set that starts after clear()
 *    returns is kept.
 */
import { bufferByteLength, bufferKind, isResizableArrayBuffer } from '../buffers.js';
import { IovaBitmapError } from '../IovaBitmapError.js';
import { MIB } from '../sizes.js';
import { type WasmMemory, isSharedMemory } from '../wasmMemory.js';
import { type BitmapKernel, bitmapKernelFor, newBitmapMemory } from './bitmapKernel.js';
import { type BitViews, bitViewsOf, nextClearBit, nextSetBit, orMaskAt, setRun, testBit } from './bitKernels.js';
import {
  type BitSummary,
  DEFAULT_BLOCK_SHIFT,
  MAX_BLOCK_SHIFT,
  MIN_BLOCK_SHIFT,
  adoptSummary,
  clearMarked,
  countMarked,
  markWords,
  newSummary,
  PendingMarks,
  markedFrom,
  markedRunEndAt,
  orBitsInto,
  rebuildSummary,
  sumMarkedRuns,
} from './bitSummary.js';
import { toU64, type U64Like, checkInt, log2Exact } from '../u64.js';
import { bitmapGeometry, MAX_BITMAP_BITS, unitBaseOf, type UnitBase } from './bitmapGeometry.js';
import { type BitmapWindow, computeWindows, DEFAULT_WINDOW_PAGES } from './windows.js';

const WHERE = 'IovaBitmap';
/** Bytes compared per slice by {@link IovaBitmap.equals}. */
const EQUALS_SLICE_BYTES = MIB;

/** Options of {@link IovaBitmap}'s constructor. */
export interface IovaBitmapOptions {
  /** IOVA of bit 0, bytes. Aligned to `pageSize`. */
  readonly iova: U64Like;
  /** IOVA span, bytes. > 0, aligned to `pageSize`, and iova + length - 1 must not pass 2^64 - 1. */
  readonly length: U64Like;
  /** IOVA bytes per bit: a power of two from 1 to 2^63. */
  readonly pageSize: U64Like;
  /**
   * The caller's memory. Omitted: new zeroed shared memory is allocated: a SharedArrayBuffer of
   * exactly {@link IovaBitmap.bytesFor} bytes, or from 64 KiB of bitmap on, the buffer of a shared
   * WebAssembly memory (rounded up to whole 64 KiB pages; the bitmap is its first
   * `byteLength` bytes), into which the page-table walk ORs its masks in WebAssembly (see
   * {@link IovaBitmap.share}). A SharedArrayBuffer (growable or not), or a
   * non-resizable ArrayBuffer: that works on one thread but cannot be shared with workers, and if
   * it is later detached every use of the bitmap gives `EFAULT`. A resizable ArrayBuffer is
   * refused (it could shrink under the bitmap).
   */
  readonly buffer?: SharedArrayBuffer | ArrayBuffer;
  /** Offset of the bitmap's first byte in `buffer`, bytes; any alignment. @defaultValue 0 */
  readonly byteOffset?: number;
  /** Max 4 KiB pages of bitmap memory per window (the kernel pins 512). @defaultValue 512 */
  readonly windowPages?: number;
}

/**
 * Internal (`@iovabitmap/core/internal`): the key of the option that says how a new bitmap gets its
 * summary ({@link SummaryOption}); a symbol, so that the public options cannot name it.
 */
export const BITMAP_SUMMARY: unique symbol = Symbol('IovaBitmap.summary');

/**
 * Internal: how a new bitmap gets its summary (./bitSummary.ts). Absent: a new one of 64-byte
 * blocks. `false`: none (the flat bitmap every reader scans whole: the benchmarks' `engine-flat`).
 * `{ blockBytes }`: a new one of blocks of that many bytes (a power of two from 64 to 4096).
 * `{ buffer }`: the summary of another view of the same memory (its `share().summary`), shared.
 */
export type SummaryOption = false | { readonly blockBytes: number } | { readonly buffer: SharedArrayBuffer };

/**
 * Internal: the key of the option that hands a view the WebAssembly memory whose buffer is its
 * `buffer` (share()'s `memory`, in fromShared), so that its walks can OR masks in WebAssembly
 * (./bitmapKernel.ts).
 */
export const BITMAP_MEMORY: unique symbol = Symbol('IovaBitmap.memory');

/** Internal: {@link IovaBitmapOptions} with the summary and memory options. */
export interface InternalIovaBitmapOptions extends IovaBitmapOptions {
  readonly [BITMAP_SUMMARY]?: SummaryOption;
  readonly [BITMAP_MEMORY]?: WasmMemory;
}

/** Plain, structured-cloneable description of a bitmap; see {@link IovaBitmap.share}. */
export interface SharedIovaBitmap {
  readonly kind: 'IovaBitmap';
  readonly buffer: SharedArrayBuffer;
  /**
   * The bitmap's summary (one bit per block of its words, see {@link IovaBitmap.rescan}), shared
   * like the buffer so that every view marks the same one; `null` for a bitmap without a summary.
   */
  readonly summary: SharedArrayBuffer | null;
  /**
   * The shared WebAssembly memory whose buffer `buffer` is, for a bitmap allocated as one
   * (./bitmapKernel.ts); absent otherwise.
   */
  readonly memory?: WasmMemory;
  readonly byteOffset: number;
  readonly iova: bigint;
  readonly length: bigint;
  readonly pageSize: bigint;
  readonly windowPages: number;
}

/** A maximal run of dirty pages, as returned by {@link IovaBitmap.dirtyRanges}. */
export interface IovaRange {
  /** First IOVA of the run, bytes. */
  readonly iova: bigint;
  /** Length of the run, bytes (a multiple of the page size). */
  readonly length: bigint;
}

/**
 * Checks a bit index or count of the numeric API: a safe integer (a larger number has lost
 * precision, a string would be concatenated, a fraction would address the wrong bit).
 * @throws IovaBitmapError `EINVAL`
 */
function checkIndex(where: string, param: string, v: unknown): void {
  if (!Number.isSafeInteger(v)) throw IovaBitmapError.bad('EINVAL', where, param, v, 'must be a safe integer');
}

/**
 * The WebAssembly memory option of a view (fromShared's, checked there), when its buffer is that
 * memory's buffer; otherwise undefined.
 */
function sharedMemoryOf(options: InternalIovaBitmapOptions, buffer: ArrayBufferLike): WasmMemory | undefined {
  const m = options[BITMAP_MEMORY];
  return isMemoryOf(m, buffer) ? m : undefined;
}

/** True when `m` is the shared WebAssembly memory whose buffer is `buffer`. */
function isMemoryOf(m: unknown, buffer: unknown): m is WasmMemory {
  return isSharedMemory(m) && m.buffer === buffer;
}

/**
 * The memory of a new bitmap of `bytes` bytes: the caller's buffer, checked (module comment,
 * "Memory"), or a new shared WebAssembly memory (from WASM_BITMAP_MIN_BYTES on,
 * ./bitmapKernel.ts) or SharedArrayBuffer.
 */
function bitmapMemory(
  given: unknown,
  byteOffset: unknown,
  bytes: number,
  nbits: number,
  length: bigint,
): { buffer: SharedArrayBuffer | ArrayBuffer; size: number; byteOffset: number; kind: 'shared' | 'plain'; memory?: WasmMemory } {
  if (given === undefined) {
    checkInt(WHERE, 'byteOffset', byteOffset, 0, 0);
    const memory = newBitmapMemory(bytes);
    if (memory !== undefined) return { buffer: memory.buffer as SharedArrayBuffer, size: memory.buffer.byteLength, byteOffset: 0, kind: 'shared', memory };
    try {
      return { buffer: new SharedArrayBuffer(bytes), size: bytes, byteOffset: 0, kind: 'shared' };
    } catch (cause) {
      throw new IovaBitmapError('ENOMEM', `${WHERE}: cannot allocate ${bytes} bytes of bitmap`, { param: 'length', value: String(length), cause });
    }
  }
  const kind = bufferKind(given);
  if (kind === undefined) throw IovaBitmapError.bad('EINVAL', WHERE, 'buffer', given, 'must be a SharedArrayBuffer or ArrayBuffer');
  if (kind === 'plain' && isResizableArrayBuffer(given)) {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'buffer', given, 'must not be a resizable ArrayBuffer (it could shrink under the bitmap)');
  }
  const buffer = given as SharedArrayBuffer | ArrayBuffer;
  const size = bufferByteLength(buffer, kind);
  if (typeof byteOffset !== 'number' || !Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset >= size) {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'byteOffset', byteOffset, `must be an integer inside the buffer [0, ${size})`);
  }
  if (byteOffset + bytes > size) {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'buffer', buffer, `is too small: ${bytes} bytes needed at byteOffset ${byteOffset} for ${nbits} bits`);
  }
  return { buffer, size, byteOffset, kind };
}

/**
 * The summary of a new bitmap of `viewWords` view words (see {@link SummaryOption}); `given`: the
 * caller supplied the memory, which may already hold bits, so a new summary starts all-set.
 * @throws IovaBitmapError `EINVAL` for an option that is not a {@link SummaryOption} or a shared
 *   summary that is not of this bitmap; `ENOMEM`.
 */
function summaryFor(option: unknown, viewWords: number, given: boolean): BitSummary | undefined {
  if (option === false) return undefined;
  if (option === undefined) return newSummary(WHERE, viewWords, DEFAULT_BLOCK_SHIFT, given);
  if (typeof option === 'object' && option !== null && 'buffer' in option) {
    const buffer = (option as { buffer: unknown }).buffer;
    if (bufferKind(buffer) !== 'shared') throw IovaBitmapError.bad('EINVAL', WHERE, 'summary', buffer, 'must be a SharedArrayBuffer');
    return adoptSummary(WHERE, 'summary', buffer as SharedArrayBuffer, viewWords);
  }
  const bytes = typeof option === 'object' && option !== null ? (option as { blockBytes: unknown }).blockBytes : undefined;
  const shift = typeof bytes === 'number' && Number.isSafeInteger(bytes) && bytes > 0 ? log2Exact(BigInt(bytes)) - 2 : -1;
  if (!(shift >= MIN_BLOCK_SHIFT && shift <= MAX_BLOCK_SHIFT)) {
    throw IovaBitmapError.bad('EINVAL', WHERE, 'summary', option, 'must be false, { blockBytes: a power of two from 64 to 4096 } or { buffer: a shared summary }');
  }
  return newSummary(WHERE, viewWords, shift, given);
}

/**
 * The memory of a bitmap as the bit kernels see it (./bitKernels.ts); see {@link bitmapViews}.
 */
export interface BitmapViews {
  /** The views over the buffer's words that hold the bitmap's bits, from the 4-byte-aligned word holding its first byte. */
  readonly views: BitViews;
  /**
   * The position of bit 0 in {@link BitmapViews.views}, 8 * (byteOffset mod 4). Congruent to the
   * absolute bit position 8 * byteOffset modulo 32, so word edges computed from it are the
   * buffer's word edges.
   */
  readonly bitBase: number;
  /** The summary over the views' words (./bitSummary.ts), or undefined for a bitmap without one. */
  readonly summary: BitSummary | undefined;
}

/** Reads a bitmap's private views; set by the class's static block (the one place that can). */
let viewsOf: (b: IovaBitmap) => BitmapViews;
/** Reads (making it on first use) a bitmap's WebAssembly kernels; set by the class's static block. */
let kernelOf: (b: IovaBitmap) => BitmapKernel | null;
/** Opens or closes a {@link deferMarks} scope; set by the class's static block. */
let deferOf: (b: IovaBitmap, open: boolean) => void;
/** See {@link summaryClean}; set by the class's static block. */
let cleanOf: (b: IovaBitmap) => boolean;

/**
 * The caller's dirty bitmap; see the module comment for the layout and the concurrency rule.
 * @example
 * ```ts
 * import { IovaBitmap } from '@iovabitmap/core';
 *
 * // 1 GiB of IOVA from 4 GiB up, one bit per 4 KiB page: 32 KiB of bitmap in a new SharedArrayBuffer.
 * const base = 4n << 30n;
 * const bitmap = new IovaBitmap({ iova: base, length: 1n << 30n, pageSize: 4096 });
 * bitmap.set(base + 4096n, 10_000n); // bytes [base + 4 KiB, + 10000) touch pages 1, 2 and 3
 * console.log(bitmap.count(), bitmap.test(base + 8192n)); // 3 true
 * for (const r of bitmap.dirtyRanges()) console.log(r.iova - base, r.length); // 4096n 12288n
 * ```
 */
export class IovaBitmap {
  /** IOVA of bit 0, bytes. */
  readonly iova: bigint;
  /** IOVA span, bytes. */
  readonly length: bigint;
  /** IOVA bytes per bit. */
  readonly pageSize: bigint;
  /** log2(pageSize), 0..63. */
  readonly pageShift: number;
  /** Number of bits (pages): length / pageSize. */
  readonly nbits: number;
  /** Bytes the bitmap occupies: ceil(nbits / 8). */
  readonly byteLength: number;
  /** Offset of the bitmap in {@link buffer}, bytes. */
  readonly byteOffset: number;
  /** The backing memory (shared with every view of this bitmap). */
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  /** Max 4 KiB pages per window. */
  readonly windowPages: number;
  /** The views over the words that hold the bitmap's bits; see {@link BitmapViews}. */
  readonly #views: BitViews;
  /** The position of bit 0 in the views; see {@link BitmapViews}. */
  readonly #bitBase: number;
  /** One bit per block of the views' words; undefined: none (module comment, "Summary"). */
  readonly #summary: BitSummary | undefined;
  /** The marks deferred while {@link deferMarks} is open on this object (./bitSummary.ts). */
  readonly #pending: PendingMarks | undefined;
  /** Open {@link deferMarks} scopes on this object. */
  #deferring = 0;
  #unitBases: (UnitBase | undefined)[] = [];
  #windows: BitmapWindow[] | undefined;
  /** The memory is a plain ArrayBuffer, which can be detached (see {@link IovaBitmap.checkMemory}). */
  readonly #detachable: boolean;
  /** The WebAssembly memory whose buffer {@link IovaBitmap.buffer} is, when known (./bitmapKernel.ts). */
  readonly #memory: WasmMemory | undefined;
  /** The kernels over {@link IovaBitmap.#memory} (the walks' OR, the count), made on first use; null: none. */
  #kernel: BitmapKernel | null | undefined;

  static {
    /** The internal functions below take only an IovaBitmap (a forged object could reach raw memory). */
    const own = (where: string, b: IovaBitmap): void => {
      if (typeof b !== 'object' || b === null || !(#views in b)) throw IovaBitmapError.bad('EINVAL', where, 'bitmap', b, 'must be an IovaBitmap');
    };
    viewsOf = (b) => {
      own('bitmapViews', b);
      return { views: b.#views, bitBase: b.#bitBase, summary: b.#summary };
    };
    kernelOf = (b) => {
      own('bitmapKernel', b);
      return b.#kernelNow();
    };
    deferOf = (b, open) => {
      own('deferMarks', b);
      if (typeof open !== 'boolean') throw IovaBitmapError.bad('EINVAL', 'deferMarks', 'open', open, 'must be a boolean');
      if (b.#pending === undefined) return;
      if (open) b.#deferring++;
      else if (b.#deferring > 0 && --b.#deferring === 0) b.#pending.flush();
    };
    cleanOf = (b) => {
      own('summaryClean', b);
      b.#settle('summaryClean');
      return b.#summary !== undefined && markedFrom(b.#summary, b.#bitBase, b.#bitBase + b.nbits) < 0;
    };
  }

  /**
   * Validates everything first (like iommufd_check_iova_range), then builds the view; it never
   * writes to a caller-supplied buffer.
   * @throws IovaBitmapError `EINVAL` (bad page size, alignment, zero length, a buffer that is not a
   *   SharedArrayBuffer or a non-resizable ArrayBuffer, buffer too small, byteOffset outside the
   *   buffer, bad windowPages), `EOVERFLOW` (iova + length - 1 past 2^64 - 1),
   *   `E2BIG` (more than {@link MAX_BITMAP_BITS} bits: 16 GiB of bitmap), `ENOMEM` (allocation failed).
   */
  constructor(options: IovaBitmapOptions) {
    if (typeof options !== 'object' || options === null) {
      throw IovaBitmapError.bad('EINVAL', WHERE, 'options', options, 'must be an object');
    }
    const { pageSize, pageShift, iova, length, nbits, bytes } = bitmapGeometry(WHERE, options.iova, options.length, options.pageSize);
    const windowPages = checkInt(WHERE, 'windowPages', options.windowPages ?? DEFAULT_WINDOW_PAGES, 1, 2 ** 31);
    const { buffer, size, byteOffset, kind, memory } = bitmapMemory(options.buffer, options.byteOffset ?? 0, bytes, nbits, length);
    this.iova = iova;
    this.length = length;
    this.pageSize = pageSize;
    this.pageShift = pageShift;
    this.nbits = nbits;
    this.byteLength = bytes;
    this.byteOffset = byteOffset;
    this.buffer = buffer;
    this.windowPages = windowPages;
    const { views, bitBase } = bitViewsOf(buffer, size, byteOffset, bytes);
    const viewWords = views.words.length + (views.tail.length > 0 ? 1 : 0);
    this.#summary = summaryFor((options as InternalIovaBitmapOptions)[BITMAP_SUMMARY], viewWords, options.buffer !== undefined);
    this.#pending = this.#summary === undefined ? undefined : new PendingMarks(this.#summary);
    this.#views = views;
    this.#bitBase = bitBase;
    this.#detachable = kind === 'plain';
    this.#memory = memory ?? sharedMemoryOf(options as InternalIovaBitmapOptions, buffer);
  }

  /**
   * Checks that the bitmap's memory is still there: always for a SharedArrayBuffer (a flag test);
   * for a plain ArrayBuffer, that it has not been detached (a length test). See the module comment
   * for why the sources call it once per report and the walks never.
   * @param where - the API to name in the error
   * @throws IovaBitmapError `EFAULT` when the ArrayBuffer was detached.
   */
  checkMemory(where: string = WHERE): void {
    if (this.#detachable && bufferByteLength(this.buffer, 'plain') < this.byteOffset + this.byteLength) {
      throw new IovaBitmapError('EFAULT', `${typeof where === 'string' ? where : WHERE}: the bitmap's memory is gone (its ArrayBuffer was detached)`, {
        param: 'bitmap.buffer',
        value: 'detached ArrayBuffer',
      });
    }
  }

  /**
   * Bytes of bitmap needed for `length` bytes of IOVA at `pageSize`: ceil(length / pageSize / 8).
   * @throws IovaBitmapError as the constructor, for the same arguments.
   */
  static bytesFor(length: U64Like, pageSize: U64Like): number {
    return bitmapGeometry(WHERE, 0n, length, pageSize).bytes;
  }

  /**
   * Rebuilds a view of the same memory, with the same summary, from {@link share} output (in a
   * worker, typically).
   * @throws IovaBitmapError `EINVAL` for something that is not such a descriptor: another kind, a
   *   buffer that is not a SharedArrayBuffer (a worker would write into a copy), a summary that is
   *   neither `null` nor this bitmap's shared summary (a SharedArrayBuffer whose header and size
   *   fit the geometry), or any field the constructor refuses.
   *
   * Called on a subclass whose constructor takes the same options, it builds that subclass over
   * the same memory and summary (`RunCapture.fromShared(d)` is a RunCapture): one check of the
   * descriptor, one view.
   */
  static fromShared<T extends IovaBitmap>(this: new (options: IovaBitmapOptions) => T, d: SharedIovaBitmap): T {
    const W = WHERE + '.fromShared';
    if (typeof d !== 'object' || d === null || d.kind !== 'IovaBitmap') {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor', d, 'is not a shared IovaBitmap descriptor');
    }
    if (bufferKind(d.buffer) !== 'shared') {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor.buffer', d.buffer, 'must be a SharedArrayBuffer (a copied buffer would lose every bit set in it)');
    }
    if (d.memory !== undefined && !isMemoryOf(d.memory, d.buffer)) {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor.memory', d.memory, "must be the WebAssembly memory of the descriptor's buffer, or absent");
    }
    if (d.summary !== null && bufferKind(d.summary) !== 'shared') {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor.summary', d.summary, "must be the bitmap's shared summary (a SharedArrayBuffer) or null");
    }
    const o: InternalIovaBitmapOptions = {
      iova: d.iova,
      length: d.length,
      pageSize: d.pageSize,
      buffer: d.buffer,
      byteOffset: d.byteOffset,
      windowPages: d.windowPages,
      [BITMAP_SUMMARY]: d.summary === null ? false : { buffer: d.summary },
      ...(d.memory === undefined ? {} : { [BITMAP_MEMORY]: d.memory }),
    };
    return new this(o);
  }

  /**
   * A plain descriptor of this bitmap; post it to a worker and call {@link IovaBitmap.fromShared}
   * there. The memory is shared, not copied.
   * @throws IovaBitmapError `EINVAL` when the buffer is a plain ArrayBuffer.
   */
  share(): SharedIovaBitmap {
    if (!(this.buffer instanceof SharedArrayBuffer)) {
      throw IovaBitmapError.bad('EINVAL', WHERE, 'buffer', this.buffer, 'must be a SharedArrayBuffer to be shared');
    }
    return {
      kind: 'IovaBitmap',
      buffer: this.buffer,
      summary: this.#summary?.buffer ?? null,
      ...(this.#memory === undefined ? {} : { memory: this.#memory }),
      byteOffset: this.byteOffset,
      iova: this.iova,
      length: this.length,
      pageSize: this.pageSize,
      windowPages: this.windowPages,
    };
  }

  /** One past the last IOVA covered, as a bigint (may be 2^64). */
  get end(): bigint {
    return this.iova + this.length;
  }

  /**
   * Marks every page that IOVA bytes [iova, iova + length - 1] touch. `length` need not be
   * page-aligned; length 0 marks nothing. Parts outside the bitmap's range are ignored, as the
   * kernel drops them.
   * @param iova - first byte, bytes
   * @param length - bytes
   * @throws IovaBitmapError `EINVAL`/`EOVERFLOW` for values that are not 64-bit integers;
   *   `EFAULT` when the memory is gone (a detached ArrayBuffer), as every method that writes or reads.
   */
  set(iova: U64Like, length: U64Like): void {
    const first = toU64(WHERE + '.set', 'iova', iova);
    const len = toU64(WHERE + '.set', 'length', length);
    this.checkMemory(WHERE + '.set');
    if (len === 0n) return;
    this.#setSpan(first, first + len);
  }

  /** Sets the pages touched by IOVA [first, end) (any bigints, end exclusive), clipped to the range. */
  #setSpan(first: bigint, end: bigint): void {
    const lo = first > this.iova ? first : this.iova;
    let last = end - 1n;
    const myLast = this.iova + this.length - 1n;
    if (last > myLast) last = myLast;
    if (lo > last) return;
    const shift = BigInt(this.pageShift);
    const b0 = Number((lo - this.iova) >> shift);
    const b1 = Number((last - this.iova) >> shift);
    this.#setRun(this.#bitBase + b0, this.#bitBase + b1 + 1);
  }

  /** Sets view bits [p, end) (p < end), then marks their blocks. */
  #setRun(p: number, end: number): void {
    setRun(this.#views, p, end);
    this.#mark(p, end);
  }

  /**
   * Marks the blocks of view bits [p, end) (p < end), after their data was written
   * (./bitSummary.ts, "The ordering rule"): now, or when the open {@link deferMarks} scope closes.
   */
  #mark(p: number, end: number): void {
    const s = this.#summary;
    if (s === undefined) return;
    const w0 = Math.floor(p / 32);
    const wLast = Math.floor((end - 1) / 32);
    if (this.#deferring > 0) this.#pending!.add(w0 >>> s.shift, wLast >>> s.shift);
    else markWords(s, w0, wLast);
  }

  /**
   * The page-index hot path: sets bits [firstBit, firstBit + count), clipped to [0, nbits).
   * Edge words by Atomics.or, whole words once each (see ./bitKernels.ts).
   * @param firstBit - bit index relative to bit 0, a safe integer (may be negative; clipped)
   * @param count - number of bits, a safe integer; <= 0 sets nothing
   * @throws IovaBitmapError `EINVAL` when `firstBit` or `count` is not a safe integer (a string,
   *   NaN, fractional, infinite, beyond 2^53): such an index would address the wrong bytes;
   *   `EFAULT` (memory gone).
   */
  setBits(firstBit: number, count: number): void {
    checkIndex(WHERE + '.setBits', 'firstBit', firstBit);
    checkIndex(WHERE + '.setBits', 'count', count);
    this.checkMemory(WHERE + '.setBits');
    let a = firstBit;
    let b = firstBit + count;
    if (a < 0) a = 0;
    if (b > this.nbits) b = this.nbits;
    if (!(a < b)) return;
    this.#setRun(this.#bitBase + a, this.#bitBase + b);
  }

  /**
   * ORs a 32-bit mask whose bit j stands for bitmap bit `firstBit + j` (bits outside [0, nbits)
   * are dropped). One or two Atomics.or. The write of the 4 KiB-leaf page-table walk.
   * @param firstBit - a safe integer (may be negative; clipped)
   * @param mask - 32 bits as a number: an int32 or a uint32 integer (-2^31 .. 2^32 - 1)
   * @throws IovaBitmapError `EINVAL` when `firstBit` is not a safe integer or `mask` is not a 32-bit
   *   integer (a bigint, a string, a fraction...); `EFAULT` (memory gone, told by the failing
   *   Atomics.or: no check up front on this per-32-bit path).
   */
  orMask(firstBit: number, mask: number): void {
    checkIndex(WHERE + '.orMask', 'firstBit', firstBit);
    if (typeof mask !== 'number' || !Number.isInteger(mask) || mask < -0x80000000 || mask > 0xffffffff) {
      throw IovaBitmapError.bad('EINVAL', WHERE + '.orMask', 'mask', mask, 'must be a 32-bit integer (an int32 or a uint32)');
    }
    const base = this.#bitBase;
    const p = base + firstBit;
    try {
      orMaskAt(this.#views, p, mask | 0, base, base + this.nbits);
    } catch (e) {
      this.checkMemory(WHERE + '.orMask'); // Atomics.or throws on detached memory: EFAULT (module comment)
      throw e;
    }
    const a = p > base ? p : base;
    const e = p + 32 < base + this.nbits ? p + 32 : base + this.nbits;
    if (mask !== 0 && a < e) this.#mark(a, e);
  }

  #unitBase(unitShift: number): UnitBase {
    checkInt(WHERE, 'unitShift', unitShift, 0, 63); // before it is used as an index
    return (this.#unitBases[unitShift] ??= unitBaseOf(WHERE, this.iova, this.pageShift, unitShift));
  }

  /**
   * Bit index (relative, possibly out of [0, nbits)) of the page holding IOVA `unit * 2^unitShift`.
   * Exact while `unit` (a non-negative safe integer) and the result are safe integers; a larger
   * result is the nearest number, so it still compares correctly with 0 and nbits. Computed in
   * bigint when the bitmap's iova, or its remainder in pages, is too large for numbers.
   * @throws IovaBitmapError `EINVAL` when `unit` is not a non-negative safe integer or `unitShift`
   *   is not an integer in [0, 63].
   */
  bitOfUnit(unit: number, unitShift: number): number {
    if (!Number.isSafeInteger(unit) || unit < 0) {
      throw IovaBitmapError.bad('EINVAL', WHERE + '.bitOfUnit', 'unit', unit, 'must be a non-negative safe integer');
    }
    const ub = this.#unitBase(unitShift);
    if (Number.isNaN(ub.baseUnits) || Number.isNaN(ub.remBits)) {
      return Number(((BigInt(unit) << BigInt(unitShift)) - this.iova) >> BigInt(this.pageShift));
    }
    const ru = unit - ub.baseUnits;
    const d = unitShift - this.pageShift;
    return d >= 0 ? ru * 2 ** d - ub.remBits : Math.floor(ru / 2 ** -d);
  }

  /**
   * Numeric fast path of {@link set}: marks the pages touched by IOVA bytes
   * [unit * 2^unitShift, (unit + count) * 2^unitShift). Used by the dirty sources, which count in
   * 4 KiB (unitShift 12) or tracker-page units. When the numbers would not be exact (the bitmap's
   * iova or its remainder above 2^53 in these units, or unit + count above 2^53 - 1) it takes the
   * exact bigint path of {@link set}; an end past 2^64 is clipped like any part outside the range.
   * @param unit - first unit, a non-negative safe integer
   * @param count - units; <= 0 sets nothing
   * @param unitShift - log2 of the unit size in bytes, 0..63
   * @throws IovaBitmapError `EINVAL` when `unit` or `count` is not a safe integer, `unit` is
   *   negative, or `unitShift` is not an integer in [0, 63]; `EFAULT` (memory gone).
   */
  setUnits(unit: number, count: number, unitShift: number): void {
    // Inline, not u64.ts checkInt nor a helper: one more call here made the tracker's per-run
    // reports (a setUnits per run) take 1.3-1.4x as long (A/B under the lock).
    if (!Number.isSafeInteger(unit) || unit < 0) {
      throw IovaBitmapError.bad('EINVAL', WHERE + '.setUnits', 'unit', unit, 'must be a non-negative safe integer');
    }
    checkIndex(WHERE + '.setUnits', 'count', count);
    const ub = this.#unitBase(unitShift);
    this.checkMemory(WHERE + '.setUnits');
    if (count <= 0) return;
    // Exact in numbers when the base and remainder are exact and unit + count is safe (then every
    // intermediate below is an exact integer or a correctly rounded one far outside [0, nbits]).
    if (Number.isNaN(ub.baseUnits) || Number.isNaN(ub.remBits) || unit + count > Number.MAX_SAFE_INTEGER) {
      const s = BigInt(unitShift);
      this.#setSpan(BigInt(unit) << s, (BigInt(unit) + BigInt(count)) << s);
      return;
    }
    const d = unitShift - this.pageShift;
    const ru0 = unit - ub.baseUnits;
    let a: number;
    let b: number;
    if (d >= 0) {
      const r = 2 ** d;
      a = ru0 * r - ub.remBits;
      b = (ru0 + count) * r - ub.remBits;
    } else {
      const r = 2 ** -d;
      a = Math.floor(ru0 / r);
      b = Math.floor((ru0 + count - 1) / r) + 1;
    }
    if (a < 0) a = 0;
    if (b > this.nbits) b = this.nbits;
    if (!(a < b)) return;
    this.#setRun(this.#bitBase + a, this.#bitBase + b);
  }

  /**
   * True when the page holding `iova` is marked; false outside the range.
   * @throws IovaBitmapError `EINVAL`/`EOVERFLOW` (not a 64-bit integer), `EFAULT` (memory gone).
   */
  test(iova: U64Like): boolean {
    const x = toU64(WHERE + '.test', 'iova', iova);
    this.checkMemory(WHERE + '.test');
    if (x < this.iova || x >= this.end) return false;
    return testBit(this.#views, this.#bitBase + Number((x - this.iova) >> BigInt(this.pageShift)));
  }

  /**
   * True when bit `bit` (0 <= bit < nbits) is set; false for a safe integer outside the bitmap.
   * @throws IovaBitmapError `EINVAL` when `bit` is not a safe integer; `EFAULT` (memory gone).
   */
  testBit(bit: number): boolean {
    checkIndex(WHERE + '.testBit', 'bit', bit);
    this.checkMemory(WHERE + '.testBit');
    if (!(bit >= 0 && bit < this.nbits)) return false;
    return testBit(this.#views, this.#bitBase + bit);
  }

  /**
   * Before a summary reader (count, countBits, clear, orInto, dirtyRanges): the memory is still
   * there, and this object's deferred marks are made, so the summary covers its own writes.
   */
  #settle(where: string): void {
    this.checkMemory(where);
    this.#pending?.flush();
  }

  /**
   * Number of set bits (dirty pages).
   * @throws IovaBitmapError `EFAULT` (memory gone).
   */
  count(): number {
    this.#settle(WHERE + '.count');
    return countMarked(this.#views, this.#summary, this.#bitBase, this.#bitBase + this.nbits, this.#kernelNow()?.count);
  }

  /** The kernels over this view's WebAssembly memory ({@link bitmapKernel}), made on first use. */
  #kernelNow(): BitmapKernel | null {
    if (this.#kernel === undefined) this.#kernel = this.#memory === undefined ? null : bitmapKernelFor(this.#memory);
    return this.#kernel;
  }

  /**
   * Number of set bits in [firstBit, firstBit + bitCount), clipped to [0, nbits).
   * @throws IovaBitmapError `EINVAL` when `firstBit` or `bitCount` is not a safe integer; `EFAULT`
   *   (memory gone).
   */
  countBits(firstBit: number, bitCount: number): number {
    checkIndex(WHERE + '.countBits', 'firstBit', firstBit);
    checkIndex(WHERE + '.countBits', 'bitCount', bitCount);
    this.#settle(WHERE + '.countBits');
    const a = Math.max(0, firstBit);
    const b = Math.min(this.nbits, firstBit + bitCount);
    if (!(a < b)) return 0;
    return countMarked(this.#views, this.#summary, this.#bitBase + a, this.#bitBase + b, this.#kernelNow()?.count);
  }

  /**
   * Clears bits [0, nbits) and nothing else (the unused bits of the last byte are kept).
   * @throws IovaBitmapError `EFAULT` (memory gone).
   */
  clear(): void {
    this.#settle(WHERE + '.clear');
    clearMarked(this.#views, this.#summary, this.#bitBase, this.#bitBase + this.nbits);
  }

  /**
   * Rebuilds the summary from the bitmap's bits: after writing the bitmap's memory directly
   * (through `buffer`, not this object's methods), and after constructing a bitmap over memory
   * that holds few bits (such a bitmap starts with every block marked, see the module comment).
   * Reads the whole bitmap once. Must not run while another thread writes this bitmap: a write it
   * races with may be left unmarked, and then missed by count(), countBits(), dirtyRanges(),
   * clear() and orInto() until the next rescan(). Nothing to do for a bitmap without a summary.
   * @throws IovaBitmapError `EFAULT` (memory gone).
   */
  rescan(): void {
    this.checkMemory(WHERE + '.rescan');
    const s = this.#summary;
    if (s !== undefined) rebuildSummary(this.#views, s, this.#bitBase, this.#bitBase + this.nbits);
  }

  /**
   * ORs this bitmap's bits into `other`, a bitmap of the same geometry (iova, length, page size;
   * any memory, any byte offset), reading only this bitmap's summary-marked blocks: the cost is
   * this bitmap's dirty blocks plus its summary, not its size. `other` is written as by its set
   * methods (edge words by Atomics.or, so other threads may set bits in it meanwhile) and its
   * summary is marked after. Bits set in this bitmap while it runs may or may not be carried.
   * @param other - the bitmap to OR into; `this` itself is allowed (nothing changes)
   * @throws IovaBitmapError `EINVAL` when `other` is not an IovaBitmap, has another iova, length or
   *   page size, or lies in the same buffer as this one at another byte offset with overlapping
   *   bytes (nothing is written then); `EFAULT` when either bitmap's memory is gone.
   */
  orInto(other: IovaBitmap): void {
    const W = WHERE + '.orInto';
    if (!(other instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', W, 'other', other, 'must be an IovaBitmap');
    if (other.iova !== this.iova || other.length !== this.length || other.pageSize !== this.pageSize) {
      const g = (b: IovaBitmap): string => `iova ${b.iova}, length ${b.length}, pageSize ${b.pageSize}`;
      throw IovaBitmapError.bad('EINVAL', W, 'other', g(other), `must have this bitmap's geometry (${g(this)})`);
    }
    if (other.buffer === this.buffer && other.byteOffset !== this.byteOffset && Math.abs(other.byteOffset - this.byteOffset) < this.byteLength) {
      throw IovaBitmapError.bad('EINVAL', W, 'other', `byteOffset ${other.byteOffset}`, `must not overlap this bitmap's bytes (byteOffset ${this.byteOffset}, ${this.byteLength} bytes)`);
    }
    this.#settle(W);
    other.checkMemory(W);
    const src = this.#views;
    const dst = other.#views;
    const d = other.#bitBase - this.#bitBase;
    const lo = other.#bitBase;
    const hi = lo + other.nbits;
    sumMarkedRuns(this.#summary, this.#bitBase, this.#bitBase + this.nbits, (a, e) => {
      orBitsInto(src, a, e, dst, d, lo, hi);
      other.#mark(a + d, e + d);
      return 0;
    });
  }

  /**
   * Yields the maximal runs of set bits as IOVA ranges, in increasing order.
   * @throws IovaBitmapError `EFAULT` at the call, or at any later step, when the memory is gone.
   */
  dirtyRanges(): Generator<IovaRange> {
    this.#settle(WHERE + '.dirtyRanges');
    return this.#runs();
  }

  /**
   * Run by run of marked blocks (the whole bitmap without a summary), the runs of set bits in
   * each: a run of set bits never crosses into an unmarked block once the writers stopped, so
   * within a marked run the scan is the flat one, and the summary costs one look per run.
   */
  *#runs(): Generator<IovaRange> {
    const end = this.#bitBase + this.nbits;
    const v = this.#views;
    const shift = BigInt(this.pageShift);
    let p = this.#bitBase;
    for (;;) {
      const a = markedFrom(this.#summary, p, end);
      if (a < 0) return;
      const e = markedRunEndAt(this.#summary, a, end);
      for (p = a; p < e; ) {
        this.checkMemory(WHERE + '.dirtyRanges'); // the caller may have detached it between two steps
        const s = nextSetBit(v, p, e);
        if (s < 0) break;
        const t = nextClearBit(v, s, e);
        yield { iova: this.iova + (BigInt(s - this.#bitBase) << shift), length: BigInt(t - s) << shift };
        p = t;
      }
      p = e;
    }
  }

  /** The kernel-shaped windows tiling this bitmap (computed once, then cached). */
  windows(): readonly BitmapWindow[] {
    this.#windows ??= computeWindows({
      iova: this.iova,
      pageSize: this.pageSize,
      nbits: this.nbits,
      byteOffset: this.byteOffset,
      windowPages: this.windowPages,
    });
    return this.#windows;
  }

  /**
   * A copy of the bitmap's bytes with the unused bits of the last byte zeroed (for comparisons).
   * @throws IovaBitmapError `ENOMEM` when the copy cannot be allocated; `EFAULT` (memory gone).
   */
  snapshot(): Uint8Array {
    this.checkMemory(WHERE + '.snapshot');
    let out: Uint8Array;
    try {
      out = new Uint8Array(this.byteLength);
    } catch (cause) {
      throw new IovaBitmapError('ENOMEM', `${WHERE}.snapshot: cannot allocate a copy of ${this.byteLength} bytes`, { cause });
    }
    out.set(new Uint8Array(this.buffer, this.byteOffset, this.byteLength));
    const tail = this.nbits % 8;
    if (tail !== 0) out[out.length - 1]! &= (1 << tail) - 1;
    return out;
  }

  /**
   * True when both bitmaps have the same geometry and the same bits. Compares the memory in
   * slices (no copy of either bitmap).
   * @throws IovaBitmapError `EINVAL` when `other` is not an IovaBitmap; `EFAULT` when either
   *   bitmap's memory is gone.
   */
  equals(other: IovaBitmap): boolean {
    if (!(other instanceof IovaBitmap)) throw IovaBitmapError.bad('EINVAL', WHERE + '.equals', 'other', other, 'must be an IovaBitmap');
    this.checkMemory(WHERE + '.equals');
    other.checkMemory(WHERE + '.equals');
    if (other.iova !== this.iova || other.length !== this.length || other.pageSize !== this.pageSize) return false;
    const last = this.byteLength - 1;
    for (let at = 0; at < last; at += EQUALS_SLICE_BYTES) {
      const n = Math.min(EQUALS_SLICE_BYTES, last - at);
      const a = new Uint8Array(this.buffer, this.byteOffset + at, n);
      const b = new Uint8Array(other.buffer, other.byteOffset + at, n);
      for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
    }
    const used = this.nbits % 8 === 0 ? 0xff : (1 << this.nbits % 8) - 1;
    const a = new Uint8Array(this.buffer, this.byteOffset + last, 1)[0]!;
    const b = new Uint8Array(other.buffer, other.byteOffset + last, 1)[0]!;
    return ((a ^ b) & used) === 0;
  }
}

/**
 * Internal (`@iovabitmap/core/internal`): the word views of a bitmap and the position of its bit 0
 * in them, for code that works on the bitmap's words directly: the parallel engine's chunk plan
 * (word-aligned cuts), the benchmark's per-bit baseline, the stress suite's racy bitmap. Read it
 * once per report or per chunk (or once in a subclass's constructor), not per word.
 * @throws IovaBitmapError `EINVAL` when `bitmap` is not an IovaBitmap.
 */
export function bitmapViews(bitmap: IovaBitmap): BitmapViews {
  return viewsOf(bitmap);
}

/**
 * Internal: the WebAssembly kernels over `bitmap`'s memory (./bitmapKernel.ts; addresses are byte
 * offsets in its buffer, `bitmapViews(bitmap).views.words.byteOffset` for word 0), or null for
 * memory that is not a WebAssembly memory known to this view. Instantiated on the first call for
 * each IovaBitmap object (the walk's sink, when it writes words directly; a count), not before.
 */
export function bitmapKernel(bitmap: IovaBitmap): BitmapKernel | null {
  return kernelOf(bitmap);
}

/**
 * Internal (`@iovabitmap/core/internal`; the pool's report, which then skips its count before the
 * walk): true when `bitmap` has a summary and no block of it is marked, i.e. its count is 0 now
 * (its own deferred marks made first, as `count()` makes them). Reads the summary words up to the
 * first marked one: a clean summary of a 512 MiB bitmap is 128 KiB. False without a summary.
 * @throws IovaBitmapError `EINVAL` when `bitmap` is not an IovaBitmap; `EFAULT` (memory gone).
 */
export function summaryClean(bitmap: IovaBitmap): boolean {
  return cleanOf(bitmap);
}

/**
 * Internal (`@iovabitmap/core/internal`): marks the summary blocks that hold bits
 * [firstBit, firstBit + count) of `bitmap` (clipped to it), with an unconditional Atomics.or per
 * summary word. For code that writes a bitmap's words directly through {@link bitmapViews} (the
 * benchmark's per-bit writer, the stress suite's racy bitmap): it must call this after its data
 * writes (./bitSummary.ts, "The ordering rule"), or the bitmap's readers may miss them.
 * @throws IovaBitmapError `EINVAL` when `bitmap` is not an IovaBitmap or `firstBit` / `count` is
 *   not a safe integer.
 */
export function markWritten(bitmap: IovaBitmap, firstBit: number, count: number): void {
  const { bitBase, summary } = viewsOf(bitmap);
  checkIndex('markWritten', 'firstBit', firstBit);
  checkIndex('markWritten', 'count', count);
  const a = Math.max(0, firstBit);
  const b = Math.min(bitmap.nbits, firstBit + count);
  if (summary !== undefined && a < b) markWords(summary, Math.floor((bitBase + a) / 32), Math.floor((bitBase + b - 1) / 32));
}

/**
 * Internal (the dirty sources' recorder, ../ClipRecorder.ts; the pool's fault injection, which
 * opens a scope it never closes to die as a crash inside a walk would): while a scope is open on
 * `bitmap` (this object, on this thread), the summary marks of its writes are collected and made
 * once per summary word (./bitSummary.ts, "Deferred marks") instead of once per write; they are
 * all made when the outermost scope closes. Every `open` must be followed by a `close`, in a
 * `finally`: marks left pending are bits the readers miss.
 * @throws IovaBitmapError `EINVAL` when `bitmap` is not an IovaBitmap or `open` not a boolean.
 */
export function deferMarks(bitmap: IovaBitmap, open: boolean): void {
  deferOf(bitmap, open);
}

/**
 * Internal (`@iovabitmap/core/internal`): the options of another view of `bitmap`'s memory that
 * shares its summary (so that writes through either are seen by both), e.g. for a subclass that
 * wraps an existing bitmap.
 * @throws IovaBitmapError `EINVAL` when `bitmap` is not an IovaBitmap.
 */
export function sameMemoryOptions(bitmap: IovaBitmap): InternalIovaBitmapOptions {
  const { summary } = viewsOf(bitmap);
  return {
    iova: bitmap.iova,
    length: bitmap.length,
    pageSize: bitmap.pageSize,
    buffer: bitmap.buffer,
    byteOffset: bitmap.byteOffset,
    windowPages: bitmap.windowPages,
    [BITMAP_SUMMARY]: summary === undefined ? false : { buffer: summary.buffer },
  };
}
