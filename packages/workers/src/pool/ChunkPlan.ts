/**
 * The chunk plan of a parallel report: which IOVA range and which source chunk number c stands for.
 * Runs on the main thread (ReportPool) and every pool worker (./worker/reportTask.ts), which build
 * the same plan.
 *
 * Theory of operation
 * -------------------
 * A report over a bitmap reads every source over the bitmap's whole range (the *clip range*
 * [bitmap.iova, bitmap.end)). The work is cut in two steps:
 *
 * 1. *Pieces, per source.* Each of the bitmap's kernel-shaped windows (`bitmap.windows()`, ../../core
 *    windows.ts) is cut at every multiple of the source's `chunkBits` of the bit position in the
 *    bitmap's word view (bitBase + bit; the view starts on a word of the buffer, so bitBase is the
 *    absolute position modulo 32). With `chunkBits` a multiple of 32, every inner piece edge is a
 *    32-bit word edge of the buffer, so two pieces never share a bitmap word except at window edges
 *    (which are byte edges). Sharing a word would still be correct (IovaBitmap's concurrency rule:
 *    edge words are written with Atomics.or), only slower. A source's pieces tile [0, nbits).
 *
 * 2. *Chunks.* Chunks are numbered source-major: source 0's pieces first, then source 1's... so two
 *    workers usually walk neighbouring pieces of one source, touching disjoint cache lines of both
 *    the source's memory and the bitmap.
 *
 * Every chunk of a report has the same clip range, so by the ownership rule of core's
 * DirtySource.ts any cut gives the bits and the remaining source state that the sequential
 * reporter (chunks = whole windows) gives.
 *
 * The plan is a pure function of (windows, bitBase, chunkBits per source): the main thread and
 * every worker build it from the same descriptors plus that short list, and agree on chunk c
 * without a chunk table. Building it costs O(windows × sources); locating a chunk is a binary
 * search over windows plus arithmetic.
 *
 * Chunk size ({@link chunkBitsFor}). A chunk should hold at least ~2^16 entries of work (so a
 * claim and the per-chunk set-up are noise), at most ~2^20 entries anywhere (so an abort is seen
 * quickly and the last chunk does not leave a core idle for long), and a source should have enough
 * chunks for the threads to balance (32 per thread; fewer let a worker that woke late take a large
 * share). The source's {@link WorkProfile} (entries in the range, and the peak entries per 4 KiB
 * page) turns those into bits; sizing in IOVA alone cut huge-leaf spaces into near-empty chunks
 * and lost most of the speed-up (figures: docs/bench/limits.md §9.3; docs/design/performance.md
 * §6). Sources without a profile get {@link DEFAULT_CHUNK_IOVA_BYTES} of IOVA.
 */
import { IovaBitmapError, type BitmapWindow, type IovaBitmap, type ReportChunk, type WorkProfile } from '@iovabitmap/core';
import { PAGE_SHIFT, bitmapViews, checkInt, lastAtOrBefore } from '@iovabitmap/core/internal';

/** IOVA bytes per chunk when `chunkBits` is not given: 256 MiB (2^16 bits at 4 KiB pages). */
const DEFAULT_CHUNK_IOVA_BYTES = 2n ** 28n;

/** Smallest accepted `chunkBits` (one 32-bit word of bitmap). */
const MIN_CHUNK_BITS = 32;
/** Largest accepted `chunkBits` (2^31 bits). */
const MAX_CHUNK_BITS = 2 ** 31;
/**
 * Least bits per piece when the workers count the bitmap (./ControlBlock.ts phases): 2^18 bits
 * = 32 KiB of bitmap, tens of µs of counting when it is all dirty (docs/bench/limits.md §9.3).
 */
const COUNT_PIECE_BITS = 2 ** 18;
/**
 * Pieces a count phase aims at: enough for 2..8 threads to balance a wholly dirty bitmap, few
 * enough that a clean one costs few claims (the counts read only the summary's marked blocks, so
 * a piece of a clean region costs its summary words: docs/bench/summary.md §3).
 */
const COUNT_PIECES = 256;

/** Most chunks one report may have (claims are counted in an Int32 cursor). */
const MAX_CHUNKS = 2 ** 30;

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
  const bits = checkInt(where, 'chunkBits', v, MIN_CHUNK_BITS, MAX_CHUNK_BITS, '(and a multiple of 32)');
  if (bits % 32 !== 0) throw IovaBitmapError.bad('EINVAL', where, 'chunkBits', v, `must be a multiple of 32 in [${MIN_CHUNK_BITS}, 2^31]`);
  return bits;
}

/** Least entries of work per chunk (see the module comment). */
const MIN_CHUNK_ENTRIES = 2 ** 16;
/** Most entries of work per chunk anywhere in the range (see the module comment). */
const MAX_CHUNK_ENTRIES = 2 ** 20;
/** Chunks per thread a source should have, for balance. */
const CHUNKS_PER_THREAD = 32;

/**
 * The piece size for one source: within {@link MIN_CHUNK_ENTRIES}..{@link MAX_CHUNK_ENTRIES} of
 * work per chunk and, where that allows, {@link CHUNKS_PER_THREAD} chunks per thread (module
 * comment). A multiple of 32 in [32, 2^31].
 * @param profile - the source's work profile over the bitmap's range, or undefined (then {@link defaultChunkBits})
 * @param nbits - the bitmap's bits
 * @param pageShift - log2 of the bitmap's page size
 * @param threads - threads of the report
 */
export function chunkBitsFor(profile: WorkProfile | undefined, nbits: number, pageShift: number, threads: number): number {
  if (profile === undefined) return defaultChunkBits(pageShift);
  // Nothing to read in the range: as few chunks as the bit range allows.
  if (profile.entries <= 0 || profile.peakEntriesPerPage <= 0) return Math.min(MAX_CHUNK_BITS, Math.max(MIN_CHUNK_BITS, Math.ceil(nbits / 32) * 32));
  const peakPerBit = profile.peakEntriesPerPage * 2 ** (pageShift - PAGE_SHIFT);
  const capByPeak = MAX_CHUNK_ENTRIES / peakPerBit;
  const forBalance = nbits / (threads * CHUNKS_PER_THREAD);
  const floorByWork = (nbits * MIN_CHUNK_ENTRIES) / profile.entries;
  const bits = Math.min(capByPeak, Math.max(forBalance, floorByWork));
  return Math.min(MAX_CHUNK_BITS, Math.max(MIN_CHUNK_BITS, Math.ceil(bits / 32) * 32));
}

/**
 * The plan the workers count a bitmap of `nbits` bits with: one source, the whole bit range cut
 * (not at window edges: counting has no window) into pieces of a power of two of bits, at least
 * {@link COUNT_PIECE_BITS}, about {@link COUNT_PIECES} of them.
 * @param bitBase - position of bit 0 in the bitmap's word view (core's `bitmapViews`)
 */
export function countPlan(nbits: number, bitBase: number): ChunkPlan {
  const bits = Math.max(COUNT_PIECE_BITS, 2 ** Math.ceil(Math.log2(nbits / COUNT_PIECES)));
  return new ChunkPlan([{ firstBit: 0, bitCount: nbits }], bitBase, [Math.min(bits, MAX_CHUNK_BITS)]);
}

/** What a plan needs of a window: its bits. */
export type PlanWindow = Pick<BitmapWindow, 'firstBit' | 'bitCount'>;

/** Where chunk c lies: the source index and the bitmap bits (relative to bit 0) of its piece. */
export interface ChunkLocation {
  /** Index of the source in the report's source list. */
  readonly source: number;
  /** Index of the piece within its source (0..pieces[source]-1). */
  readonly piece: number;
  /** First bit of the piece, relative to the bitmap's bit 0. */
  readonly firstBit: number;
  /** Bits in the piece (≥ 1). */
  readonly bitCount: number;
}

/**
 * A report's two plans over `bitmap`: its chunks (`chunkBits`, one piece size per source) and the
 * number of pieces its counting phases cut the bitmap into ({@link countPlan}). The pool, the
 * warm-up and the tests build a report's control block from them.
 */
export function reportPlans(bitmap: IovaBitmap, chunkBits: readonly number[]): { plan: ChunkPlan; countPieces: number } {
  const { bitBase } = bitmapViews(bitmap);
  return { plan: new ChunkPlan(bitmap.windows(), bitBase, chunkBits), countPieces: countPlan(bitmap.nbits, bitBase).chunks };
}

/**
 * The IOVA range of chunk `at` as its source reports it: the piece's bits of `bitmap`, the clip
 * range the bitmap's whole range (the ownership rule of core's DirtySource.ts).
 */
export function reportChunkOf(bitmap: IovaBitmap, at: ChunkLocation): ReportChunk {
  const shift = BigInt(bitmap.pageShift);
  const chunkLo = bitmap.iova + (BigInt(at.firstBit) << shift);
  return { chunkLo, chunkHi: chunkLo + (BigInt(at.bitCount) << shift), clipLo: bitmap.iova, clipHi: bitmap.end };
}

/** The windows cut at every multiple of one piece size; see the module comment. */
class PieceGrid {
  readonly pieces: number;
  readonly #windows: readonly PlanWindow[];
  readonly #bitBase: number;
  readonly #chunkBits: number;
  /** firstPiece[w]: index of window w's first piece; firstPiece[windows] = pieces. */
  readonly #firstPiece: Float64Array;

  constructor(windows: readonly PlanWindow[], bitBase: number, chunkBits: number) {
    this.#windows = windows;
    this.#bitBase = bitBase;
    this.#chunkBits = chunkBits;
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
  }

  /** First bit (relative to bit 0) and bit count of piece `piece` (0 <= piece < pieces). */
  locate(piece: number): { firstBit: number; bitCount: number } {
    // The window holding it: every window has a piece, so the prefix sums ascend strictly.
    const w = lastAtOrBefore(this.#firstPiece, piece);
    const win = this.#windows[w]!;
    const j = piece - this.#firstPiece[w]!;
    const a = this.#bitBase + win.firstBit;
    const e = a + win.bitCount;
    const C = this.#chunkBits;
    const g = Math.floor(a / C);
    const start = j === 0 ? a : (g + j) * C;
    const end = Math.min((g + j + 1) * C, e);
    return { firstBit: start - this.#bitBase, bitCount: end - start };
  }
}

/** See the module comment. Immutable once built. */
export class ChunkPlan {
  /** Sources of the report. */
  readonly sources: number;
  /** Chunks of the report: the sum of the sources' pieces. */
  readonly chunks: number;
  /** Bits per piece of each source (except at window edges), multiples of 32. */
  readonly chunkBits: readonly number[];
  /** Pieces of each source. */
  readonly pieces: readonly number[];
  readonly #grids: PieceGrid[];
  /** firstChunk[s]: number of source s's first chunk; firstChunk[sources] = chunks. */
  readonly #firstChunk: number[];

  /**
   * @param windows - the bitmap's windows (`bitmap.windows()`), tiling [0, nbits)
   * @param bitBase - position of bit 0 in the bitmap's word view (core's `bitmapViews`)
   * @param chunkBits - piece size in bits of each source (see {@link checkChunkBits}); one entry per source
   * @throws IovaBitmapError `E2BIG` when the report would have more than {@link MAX_CHUNKS} chunks.
   */
  constructor(windows: readonly PlanWindow[], bitBase: number, chunkBits: readonly number[]) {
    this.sources = chunkBits.length;
    this.chunkBits = [...chunkBits];
    const grids = new Map<number, PieceGrid>();
    this.#grids = chunkBits.map((c) => {
      let g = grids.get(c);
      if (g === undefined) grids.set(c, (g = new PieceGrid(windows, bitBase, c)));
      return g;
    });
    this.pieces = this.#grids.map((g) => g.pieces);
    this.#firstChunk = [0];
    for (const n of this.pieces) this.#firstChunk.push(this.#firstChunk[this.#firstChunk.length - 1]! + n);
    this.chunks = this.#firstChunk[this.sources]!;
    if (this.chunks > MAX_CHUNKS) {
      throw IovaBitmapError.bad('E2BIG', 'ChunkPlan', 'chunkBits', Math.min(...chunkBits), `cuts this report into ${this.chunks} chunks; at most 2^30 are allowed`);
    }
  }

  /**
   * Locates chunk `c` (0 ≤ c < {@link chunks}).
   * @throws RangeError for c out of range (a bug in the caller, never user input).
   */
  locate(c: number): ChunkLocation {
    if (!(c >= 0 && c < this.chunks)) throw new RangeError(`ChunkPlan.locate: chunk ${c} is outside [0, ${this.chunks})`);
    const source = lastAtOrBefore(this.#firstChunk, c);
    const piece = c - this.#firstChunk[source]!;
    return { source, piece, ...this.#grids[source]!.locate(piece) };
  }
}
