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
import { type BitViews, bitViewsOf, clearRun, countRun, nextClearBit, nextSetBit, orMaskAt, setRun, testBit } from './bitKernels.js';
import { toU64, type U64Like, checkInt } from '../u64.js';
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
   * The caller's memory. Omitted: a new zeroed SharedArrayBuffer of exactly
   * {@link IovaBitmap.bytesFor} bytes is allocated. A SharedArrayBuffer (growable or not), or a
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

/** Plain, structured-cloneable description of a bitmap; see {@link IovaBitmap.share}. */
export interface SharedIovaBitmap {
  readonly kind: 'IovaBitmap';
  readonly buffer: SharedArrayBuffer;
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
 * The memory of a new bitmap of `bytes` bytes: the caller's buffer, checked (module comment,
 * "Memory"), or a new SharedArrayBuffer.
 */
function bitmapMemory(
  given: unknown,
  byteOffset: unknown,
  bytes: number,
  nbits: number,
  length: bigint,
): { buffer: SharedArrayBuffer | ArrayBuffer; size: number; byteOffset: number; kind: 'shared' | 'plain' } {
  if (given === undefined) {
    checkInt(WHERE, 'byteOffset', byteOffset, 0, 0);
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
}

/** Reads a bitmap's private views; set by the class's static block (the one place that can). */
let viewsOf: (b: IovaBitmap) => BitmapViews;

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
  #unitBases: (UnitBase | undefined)[] = [];
  #windows: BitmapWindow[] | undefined;
  /** The memory is a plain ArrayBuffer, which can be detached (see {@link IovaBitmap.checkMemory}). */
  readonly #detachable: boolean;

  static {
    viewsOf = (b) => {
      if (typeof b !== 'object' || b === null || !(#views in b)) throw IovaBitmapError.bad('EINVAL', 'bitmapViews', 'bitmap', b, 'must be an IovaBitmap');
      return { views: b.#views, bitBase: b.#bitBase };
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
    const { buffer, size, byteOffset, kind } = bitmapMemory(options.buffer, options.byteOffset ?? 0, bytes, nbits, length);
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
    this.#views = views;
    this.#bitBase = bitBase;
    this.#detachable = kind === 'plain';
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
   * Rebuilds a view of the same memory from {@link share} output (in a worker, typically).
   * @throws IovaBitmapError `EINVAL` for something that is not such a descriptor: another kind, a
   *   buffer that is not a SharedArrayBuffer (a worker would write into a copy), or any field the
   *   constructor refuses.
   */
  static fromShared(d: SharedIovaBitmap): IovaBitmap {
    const W = WHERE + '.fromShared';
    if (typeof d !== 'object' || d === null || d.kind !== 'IovaBitmap') {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor', d, 'is not a shared IovaBitmap descriptor');
    }
    if (bufferKind(d.buffer) !== 'shared') {
      throw IovaBitmapError.bad('EINVAL', W, 'descriptor.buffer', d.buffer, 'must be a SharedArrayBuffer (a copied buffer would lose every bit set in it)');
    }
    return new IovaBitmap({ iova: d.iova, length: d.length, pageSize: d.pageSize, buffer: d.buffer, byteOffset: d.byteOffset, windowPages: d.windowPages });
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
    setRun(this.#views, this.#bitBase + b0, this.#bitBase + b1 + 1);
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
    setRun(this.#views, this.#bitBase + a, this.#bitBase + b);
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
    try {
      orMaskAt(this.#views, this.#bitBase + firstBit, mask | 0, this.#bitBase, this.#bitBase + this.nbits);
    } catch (e) {
      this.checkMemory(WHERE + '.orMask'); // Atomics.or throws on detached memory: EFAULT (module comment)
      throw e;
    }
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
    setRun(this.#views, this.#bitBase + a, this.#bitBase + b);
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
   * Number of set bits (dirty pages).
   * @throws IovaBitmapError `EFAULT` (memory gone).
   */
  count(): number {
    this.checkMemory(WHERE + '.count');
    return countRun(this.#views, this.#bitBase, this.#bitBase + this.nbits);
  }

  /**
   * Number of set bits in [firstBit, firstBit + bitCount), clipped to [0, nbits).
   * @throws IovaBitmapError `EINVAL` when `firstBit` or `bitCount` is not a safe integer; `EFAULT`
   *   (memory gone).
   */
  countBits(firstBit: number, bitCount: number): number {
    checkIndex(WHERE + '.countBits', 'firstBit', firstBit);
    checkIndex(WHERE + '.countBits', 'bitCount', bitCount);
    this.checkMemory(WHERE + '.countBits');
    const a = Math.max(0, firstBit);
    const b = Math.min(this.nbits, firstBit + bitCount);
    if (!(a < b)) return 0;
    return countRun(this.#views, this.#bitBase + a, this.#bitBase + b);
  }

  /**
   * Clears bits [0, nbits) and nothing else (the unused bits of the last byte are kept).
   * @throws IovaBitmapError `EFAULT` (memory gone).
   */
  clear(): void {
    this.checkMemory(WHERE + '.clear');
    clearRun(this.#views, this.#bitBase, this.#bitBase + this.nbits);
  }

  /**
   * Yields the maximal runs of set bits as IOVA ranges, in increasing order.
   * @throws IovaBitmapError `EFAULT` at the call, or at any later step, when the memory is gone.
   */
  dirtyRanges(): Generator<IovaRange> {
    this.checkMemory(WHERE + '.dirtyRanges');
    return this.#runs();
  }

  *#runs(): Generator<IovaRange> {
    const end = this.#bitBase + this.nbits;
    let p = this.#bitBase;
    const shift = BigInt(this.pageShift);
    while (p < end) {
      this.checkMemory(WHERE + '.dirtyRanges'); // the caller may have detached it between two steps
      const s = nextSetBit(this.#views, p, end);
      if (s < 0) return;
      const e = nextClearBit(this.#views, s, end);
      yield { iova: this.iova + (BigInt(s - this.#bitBase) << shift), length: BigInt(e - s) << shift };
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
