/**
 * The chunk plan of a parallel report: which IOVA range and which source chunk number c stands for.
 *
 * Theory of operation
 * -------------------
 * A report over a bitmap reads every source over the bitmap's whole range (the *clip range*
 * [bitmap.iova, bitmap.end)). The work is cut in two steps:
 *
 * 1. *Pieces.* Each of the bitmap's kernel-shaped windows (`bitmap.windows()`, ../../core
 *    windows.ts) is cut at every multiple of `chunkBits` of the *absolute* bit position in the
 *    buffer (bitBase + bit). With `chunkBits` a multiple of 32, every inner piece edge is a 32-bit
 *    word edge of the buffer, so two pieces never share a bitmap word except at window edges
 *    (which are byte edges). Sharing a word would still be correct (IovaBitmap's concurrency rule:
 *    edge words are written with Atomics.or), only slower. The pieces tile [0, nbits) in order.
 *
 * 2. *Chunks.* Chunk c is piece c mod P of source floor(c / P) (P = number of pieces): source-major,
 *    so two workers usually walk neighbouring pieces of one source, touching disjoint cache lines
 *    of both the source's memory and the bitmap.
 *
 * Every chunk of a report has the same clip range, so by the ownership rule of core's
 * DirtySource.ts any cut gives the bits and the remaining source state that the sequential
 * reporter (chunks = whole windows) gives.
 *
 * The plan is a pure function of (windows, bitBase, number of sources, chunkBits): the main thread
 * and every worker build it from the same descriptors and agree on chunk c without exchanging a
 * chunk table. Building it costs O(windows) (a prefix sum of pieces per window: 16 windows per TiB
 * at 4 KiB pages); locating a chunk is a binary search over windows plus arithmetic.
 *
 * Default size (performance-notes.md §6): a chunk should hold ≥ ~30 µs of work so that a claim
 * (≤ 0.5 µs) is noise, and be short enough for an abort to be seen quickly: 2^16 PTEs of 4 KiB
 * = 256 MiB of IOVA ≈ 31 µs at 0.47 ns/PTE (clean) to ≈ 165 µs at 2.5 ns/PTE (dense). We keep
 * 256 MiB of IOVA per chunk for any bitmap page size: 2^16 bits at 4 KiB, never below 32 bits.
 */
import { IovaBitmapError, type BitmapWindow } from '@iovabitmap/core';

/** IOVA bytes per chunk when `chunkBits` is not given: 256 MiB (2^16 bits at 4 KiB pages). */
export const DEFAULT_CHUNK_IOVA_BYTES = 2n ** 28n;

/** Smallest accepted `chunkBits` (one 32-bit word of bitmap). */
export const MIN_CHUNK_BITS = 32;
/** Largest accepted `chunkBits` (2^31 bits). */
export const MAX_CHUNK_BITS = 2 ** 31;
/**
 * Least bits per piece when the workers count the bitmap (./controlBlock.ts phases): 2^18 bits
 * = 32 KiB of bitmap, ~20–40 µs of counting, so a report with tiny chunks does not count in
 * tiny pieces.
 */
export const COUNT_PIECE_BITS = 2 ** 18;

/** Most chunks one report may have (claims are counted in an Int32 cursor). */
export const MAX_CHUNKS = 2 ** 30;

/**
 * The default chunk size in bitmap bits for a bitmap page size of 2^pageShift bytes:
 * {@link DEFAULT_CHUNK_IOVA_BYTES} of IOVA, rounded down to a multiple of 32 bits, at least 32.
 * @param pageShift - log2 of the bitmap's page size (0..63)
 */
export function defaultChunkBits(pageShift: number): number {
  const bits = pageShift >= 28 ? 1 : 2 ** (28 - pageShift);
  return Math.max(MIN_CHUNK_BITS, Math.floor(bits / 32) * 32);
}

/**
 * Validates a `chunkBits` option: an integer multiple of 32 in [32, 2^31].
 * @throws IovaBitmapError `EINVAL`
 */
export function checkChunkBits(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_CHUNK_BITS || v > MAX_CHUNK_BITS || v % 32 !== 0) {
    throw IovaBitmapError.bad('EINVAL', where, 'chunkBits', v, `must be a multiple of 32 in [${MIN_CHUNK_BITS}, 2^31]`);
  }
  return v;
}

/**
 * The plan the workers count the bitmap with: the same cut as the walk's pieces, at
 * max(chunkBits, {@link COUNT_PIECE_BITS}) bits (a multiple of chunkBits' 32-bit alignment).
 */
export function countPlan(windows: readonly BitmapWindow[], bitBase: number, chunkBits: number): ChunkPlan {
  return new ChunkPlan(windows, bitBase, 1, Math.max(chunkBits, COUNT_PIECE_BITS));
}

/** Where chunk c lies: the source index and the bitmap bits (relative to bit 0) of its piece. */
export interface ChunkLocation {
  /** Index of the source in the report's source list. */
  readonly source: number;
  /** Index of the piece (0..pieces-1). */
  readonly piece: number;
  /** First bit of the piece, relative to the bitmap's bit 0. */
  readonly firstBit: number;
  /** Bits in the piece (≥ 1). */
  readonly bitCount: number;
}

/** See the module comment. Immutable once built. */
export class ChunkPlan {
  /** Pieces over the whole bitmap (the same for every source). */
  readonly pieces: number;
  /** Chunks of the report: pieces × sources. */
  readonly chunks: number;
  /** Sources of the report. */
  readonly sources: number;
  /** Bits per piece (except at window edges), a multiple of 32. */
  readonly chunkBits: number;
  readonly #windows: readonly BitmapWindow[];
  readonly #bitBase: number;
  /** firstPiece[w]: index of window w's first piece; firstPiece[windows] = pieces. */
  readonly #firstPiece: Float64Array;

  /**
   * @param windows - the bitmap's windows (`bitmap.windows()`), tiling [0, nbits)
   * @param bitBase - absolute bit position of bit 0 in the buffer (`bitmap.bitBase`)
   * @param sources - number of sources (≥ 1)
   * @param chunkBits - piece size in bits (see {@link checkChunkBits})
   * @throws IovaBitmapError `E2BIG` when the report would have more than {@link MAX_CHUNKS} chunks.
   */
  constructor(windows: readonly BitmapWindow[], bitBase: number, sources: number, chunkBits: number) {
    this.#windows = windows;
    this.#bitBase = bitBase;
    this.sources = sources;
    this.chunkBits = chunkBits;
    const first = new Float64Array(windows.length + 1);
    let n = 0;
    for (let w = 0; w < windows.length; w++) {
      first[w] = n;
      const a = bitBase + windows[w]!.firstBit;
      const e = a + windows[w]!.bitCount;
      // Grid points strictly inside (a, e), plus one.
      n += Math.floor((e - 1) / chunkBits) - Math.floor(a / chunkBits) + 1;
    }
    first[windows.length] = n;
    this.#firstPiece = first;
    this.pieces = n;
    this.chunks = n * sources;
    if (this.chunks > MAX_CHUNKS) {
      throw IovaBitmapError.bad('E2BIG', 'ChunkPlan', 'chunkBits', chunkBits, `cuts this report into ${this.chunks} chunks; at most 2^30 are allowed`);
    }
  }

  /** The window index holding piece `p` (binary search over the prefix sums). */
  #windowOf(p: number): number {
    let lo = 0;
    let hi = this.#windows.length - 1;
    const first = this.#firstPiece;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (first[mid]! <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /**
   * Locates chunk `c` (0 ≤ c < {@link chunks}).
   * @throws RangeError for c out of range (a bug in the caller, never user input).
   */
  locate(c: number): ChunkLocation {
    if (!(c >= 0 && c < this.chunks)) throw new RangeError(`ChunkPlan.locate: chunk ${c} is outside [0, ${this.chunks})`);
    const source = Math.floor(c / this.pieces);
    const piece = c - source * this.pieces;
    const w = this.#windowOf(piece);
    const win = this.#windows[w]!;
    const j = piece - this.#firstPiece[w]!;
    const a = this.#bitBase + win.firstBit;
    const e = a + win.bitCount;
    const C = this.chunkBits;
    const g = Math.floor(a / C);
    const start = j === 0 ? a : (g + j) * C;
    const end = Math.min((g + j + 1) * C, e);
    return { source, piece, firstBit: start - this.#bitBase, bitCount: end - start };
  }
}
