/**
 * The summary layer of a bitmap: one bit per block of bitmap words, so that reading, clearing and
 * merging a bitmap cost what was dirtied, not the size of the bitmap.
 *
 * Theory of operation
 * -------------------
 * What it models. A bitmap's words (the views of ./bitKernels.ts: view word w is the buffer's word
 * holding view bits [32w, 32w + 32)) are cut into *blocks* of 2^shift words, from view word 0. The
 * summary holds bit j for block j (bit j % 32 of summary word floor(j / 32)), in a
 * SharedArrayBuffer of its own beside the caller's bitmap, whose bytes keep the exact uAPI layout.
 * A set summary bit says "this block may hold set bits"; a clear one says "it holds none". The
 * readers (count, countBits, dirtyRanges, clear, orInto) visit only the marked blocks, in runs of
 * consecutive marked blocks, so a whole-bitmap read costs the summary (1/512 of the bitmap at the
 * default block) plus the marked blocks.
 *
 * Invariant (coverage): once the writers of a bitmap have stopped (joined, or a report settled),
 * every set bit of the bitmap lies in a block whose summary bit is set. The summary may
 * over-approximate (a marked block with no set bit: costs a scan of that block, nothing else);
 * it never under-approximates. Direct writes to the bitmap's memory that bypass its methods break
 * coverage until `IovaBitmap.rescan()` (or, for code that writes the words on purpose,
 * {@link markWords} after the writes: the internal `markWritten`).
 *
 * The ordering rule. A writer marks *after* writing the data: data store(s), then the block's bit
 * OR-ed into the summary. `clear` runs the other way: it takes a summary word with
 * `Atomics.exchange(word, 0)` first, and only then zeroes the data of the blocks that word held.
 * - While writers run, a clear summary bit means nothing about writes still in flight: a writer may
 *   have stored data it has not marked yet. A reader that skips that block misses bits that were
 *   not yet "published", exactly as a reader that passed that word before the store would.
 * - After the writers stop, coverage holds. Proof, for a set data bit d written by writer W into
 *   block k, with clears C racing: W's last data store to d precedes its mark of k (program order,
 *   and the mark is an atomic RMW, which on the hosts we target orders every earlier store before
 *   it: x86-64 lock-prefixed instructions drain the store buffer; arm64's Atomics.or ends with a
 *   store-release). If no clear exchanged k's word after W's mark, the mark is still there. If a
 *   clear C did, C zeroed k's data after its exchange, hence after W's mark, hence after W's store:
 *   d is 0 unless a later writer set it again, and that writer's own mark comes after its store and
 *   after C's exchange. So every surviving set bit has a mark after the last exchange. The reverse
 *   orders fail: a clear that zeroed data before taking the summary could take the mark of a store
 *   that landed after the zeroing (a set bit under a clear summary bit: under-approximation), and a
 *   writer that marked before storing could have its mark taken between the two.
 * - No check-first. The protocol could skip the mark when a load of the summary word shows the
 *   bit already set (`if ((Atomics.load(s, i) & b) === 0) Atomics.or(s, i, b)`). That is sound
 *   only when the writer's last data write before the load was itself an atomic RMW: after a
 *   *plain* store (the all-ones words inside a run, the walk's whole words) the load may be
 *   satisfied before the store is visible (x86's store buffer; arm64 lets a load pass an earlier
 *   plain store), so a racing clear could take the summary bit and zero the block before the store
 *   lands (a set bit under a clear summary bit). So every mark here is an unconditional
 *   Atomics.or, whose RMW is the fence, and its cost is kept down by making fewer of them instead
 *   ("Deferred marks").
 * - A clear racing with writers: a write it overlaps may or may not survive (the bitmap's rule);
 *   a write that survives keeps its mark (above); a mark may survive over zeroed data
 *   (over-approximation, allowed).
 *
 * Deferred marks. A writer that makes many small writes (a source's chunk: one run per 2 MiB
 * leaf, one mask per word of a tracker, a mask per block of the walk) would pay one summary RMW
 * per write, and each is a locked instruction that waits for the writer's data stores to drain:
 * behind a 32 KiB fill (a 1 GiB leaf) that wait is most of its cost. {@link PendingMarks} keeps
 * the *run* of blocks written (consecutive or overlapping writes extend it); a run that a write
 * leaves waits in a buffer of up to 64 runs, all marked when it fills or at the flush, so the data
 * stores of many isolated writes (a sparse walk's 2 MiB leaves, each a cache line that misses) are
 * in flight together before the first locked mark waits for them; the chunk's recorder flushes in
 * a `finally` when the chunk ends (`deferMarks` in ./IovaBitmap.ts, ../ClipRecorder.ts,
 * ../pagetable/DirtyLeafSink.ts). So an ascending walk marks each unbroken stretch of what it
 * wrote once. The marks still come after the data they cover, so the ordering rule holds; during
 * the chunk a reader may miss its unflushed writes, as it may miss any write in flight. A
 * bitmap's own readers (count, clear, ...) flush its pending marks first.
 *
 * The check-first in `clear` (a plain load of a summary word, skipped when 0) is sound for the
 * same reason: a word read as 0 by the clear either holds no mark that the clear should take, or
 * its mark is made later, after its data, and then the data survives with its mark.
 *
 * Block size ({@link DEFAULT_BLOCK_SHIFT}): 16 words = 64 bytes of bitmap = 512 pages = 2 MiB of
 * IOVA at 4 KiB pages, one cache line. Measured against 512 B and 4 KiB blocks (figures in
 * docs/bench/summary.md §2): on bitmaps dirty in 2 MiB leaves a 64 B block is exactly one leaf, so
 * 1% of leaves dirty marks 1% of the blocks (7.7% at 512 B, 47% at 4 KiB), and count() costs 0.055
 * of a flat count (0.16 at 512 B, 0.72 at 4 KiB); on bitmaps dirty in 1 GiB leaves every size
 * costs 1-2% of flat; wholly dirty or scattered-4 KiB bitmaps mark every block at every size, and
 * the readers then cost what flat ones do (runs of marked blocks are read as one span). The
 * writers pay per write call, about the same at every size (the walk's whole-word path defers its
 * mark to a change of block, ../pagetable/DirtyLeafSink.ts). The summary of a 64 B block is 1/512
 * of the bitmap: 1 MiB for a 512 MiB bitmap, 4 MiB for a 2 GiB one (64 TiB at 4 KiB pages), 32 MiB
 * at the 16 GiB limit; scanning it is a small fraction of a pass over the bitmap.
 *
 * Layout of the summary's SharedArrayBuffer: a 64-byte header line (Int32 word 0: the block shift;
 * word 1: the number of blocks; the rest 0), then the summary words. The header makes a shared
 * summary self-describing, so that `IovaBitmap.fromShared` can check it against the geometry.
 * View word indices are below 2^32 (a bitmap of at most MAX_BITMAP_BITS = 2^37 - 32 bits, plus at
 * most 3 bytes of its first word before byteOffset, spans at most 2^32 view words, the tail's
 * partial word included), so `w >>> shift` is exact, and block numbers are below 2^28: int32, and
 * every shift here is exact.
 */
import { IovaBitmapError } from '../IovaBitmapError.js';
import type { CountBytes } from './bitmapKernel.js';
import { type BitViews, clearRun, countRun, countWholeWords, ctz32, loadWord, nextSetBit, orMaskAt, orWord, runEndAt, spanMask } from './bitKernels.js';

/** Summary words start after this many header words (one 64-byte line). */
const HEADER_WORDS = 16;
const H_SHIFT = 0;
const H_BLOCKS = 1;
/** log2 of the default words per block: 16 words = 64 bytes (module comment). */
export const DEFAULT_BLOCK_SHIFT = 4;
/** Smallest block: 16 words (64 bytes, a cache line). */
export const MIN_BLOCK_SHIFT = 4;
/** Largest block: 1024 words (4 KiB). */
export const MAX_BLOCK_SHIFT = 10;

/** The summary of one bitmap; see the module comment. */
export interface BitSummary {
  /** The summary's memory: header line, then the summary words. Shared with every view of the bitmap. */
  readonly buffer: SharedArrayBuffer;
  /** The summary words: bit j % 32 of word floor(j / 32) is block j. */
  readonly bits: Int32Array;
  /**
   * The same words in pairs (pair k = words 2k and 2k + 1), for {@link markBlocks} to set two
   * whole words with one RMW; only ever OR-ed with all ones, so the byte order does not matter.
   */
  readonly pairs: BigInt64Array;
  /** log2 of the bitmap words per block. */
  readonly shift: number;
  /** Blocks: ceil(view words / 2^shift). */
  readonly blocks: number;
}

/** Blocks of a bitmap of `viewWords` view words (the tail's partial word counted). */
function blocksFor(viewWords: number, shift: number): number {
  return Math.ceil(viewWords / 2 ** shift);
}

/** Bytes of the summary of `viewWords` view words at blocks of 2^shift words. */
function summaryBytesFor(viewWords: number, shift: number): number {
  return 4 * (HEADER_WORDS + Math.ceil(blocksFor(viewWords, shift) / 32));
}

function viewOf(buffer: SharedArrayBuffer, shift: number, blocks: number): BitSummary {
  const words = Math.ceil(blocks / 32);
  return { buffer, bits: new Int32Array(buffer, 4 * HEADER_WORDS, words), pairs: new BigInt64Array(buffer, 4 * HEADER_WORDS, words >>> 1), shift, blocks };
}

/**
 * A new summary for a bitmap of `viewWords` view words: all clear (a bitmap of fresh zeroed memory)
 * or, with `allSet`, every block marked (a bitmap over memory that may already hold bits).
 * @throws IovaBitmapError `ENOMEM` when the memory cannot be allocated.
 */
export function newSummary(where: string, viewWords: number, shift: number, allSet: boolean): BitSummary {
  const blocks = blocksFor(viewWords, shift);
  let buffer: SharedArrayBuffer;
  try {
    buffer = new SharedArrayBuffer(summaryBytesFor(viewWords, shift));
  } catch (cause) {
    throw new IovaBitmapError('ENOMEM', `${where}: cannot allocate the bitmap's summary (${summaryBytesFor(viewWords, shift)} bytes)`, { cause });
  }
  const header = new Int32Array(buffer, 0, HEADER_WORDS);
  header[H_SHIFT] = shift;
  header[H_BLOCKS] = blocks;
  const s = viewOf(buffer, shift, blocks);
  if (allSet) {
    // Nobody else sees this memory yet: plain stores; the bits past the last block stay 0.
    s.bits.fill(-1);
    if (blocks % 32 !== 0) s.bits[s.bits.length - 1] = (1 << (blocks % 32)) - 1;
  }
  return s;
}

/**
 * The summary held in `buffer` (a shared summary, from `IovaBitmap.share`), checked against the
 * bitmap's `viewWords`: a block shift in [{@link MIN_BLOCK_SHIFT}, {@link MAX_BLOCK_SHIFT}], the
 * block count of that shift, and the exact size.
 * @throws IovaBitmapError `EINVAL` naming `param` (or its header field).
 */
export function adoptSummary(where: string, param: string, buffer: SharedArrayBuffer, viewWords: number): BitSummary {
  if (buffer.byteLength < 4 * HEADER_WORDS) {
    throw IovaBitmapError.bad('EINVAL', where, param, buffer, `is ${buffer.byteLength} bytes: too small for a summary's header`);
  }
  const header = new Int32Array(buffer, 0, HEADER_WORDS);
  const shift = header[H_SHIFT]!;
  if (!(shift >= MIN_BLOCK_SHIFT && shift <= MAX_BLOCK_SHIFT)) {
    throw IovaBitmapError.bad('EINVAL', where, `${param}.header.blockShift`, shift, `must be an integer in [${MIN_BLOCK_SHIFT}, ${MAX_BLOCK_SHIFT}]`);
  }
  const blocks = blocksFor(viewWords, shift);
  if (header[H_BLOCKS] !== blocks) {
    throw IovaBitmapError.bad('EINVAL', where, `${param}.header.blocks`, header[H_BLOCKS], `must be ${blocks}: the summary is not of this bitmap`);
  }
  if (buffer.byteLength !== summaryBytesFor(viewWords, shift)) {
    throw IovaBitmapError.bad('EINVAL', where, param, buffer, `must be ${summaryBytesFor(viewWords, shift)} bytes for this bitmap, not ${buffer.byteLength}`);
  }
  return viewOf(buffer, shift, blocks);
}

/**
 * Finished runs a {@link PendingMarks} holds before it marks them: a mark is a locked instruction,
 * which waits until the writer's earlier stores have reached its cache, so marking each isolated
 * 2 MiB leaf of a sparse walk at once waited for that leaf's bitmap line every time; held back,
 * the stores of many leaves are in flight together and the marks come in one burst.
 */
const PENDING_RUNS = 64;

/**
 * Marks blocks [b0, b1) (b0 < b1): one Atomics.or per partly covered summary word, and one per
 * *pair* of whole words (a BigInt64 Atomics.or of all ones: V8 runs every Atomics operation as a
 * builtin call, ~12 ns for 32 bits and ~16 ns for 64, so a 1 GiB run's 16 words cost 8 calls
 * instead of 16; docs/bench/summary.md §1). Each is an atomic RMW made after the data, as the
 * ordering rule asks; a 64-bit RMW and a 32-bit one on the same word are both locked (x86-64) or
 * exclusive (arm64) accesses to one cache line, so neither loses the other's bits.
 */
function markBlocks(s: BitSummary, b0: number, b1: number): void {
  const bits = s.bits;
  const i0 = b0 >>> 5;
  const iLast = (b1 - 1) >>> 5;
  if (i0 === iLast) {
    Atomics.or(bits, i0, spanMask(b0 & 31, ((b1 - 1) & 31) + 1));
    return;
  }
  const first = spanMask(b0 & 31, 32);
  const last = spanMask(0, ((b1 - 1) & 31) + 1);
  // The whole words are [w, end): the edges too when they are whole.
  let w = first === -1 ? i0 : i0 + 1;
  const end = last === -1 ? iLast + 1 : iLast;
  if (first !== -1) Atomics.or(bits, i0, first);
  if ((w & 1) === 1 && w < end) Atomics.or(bits, w++, -1);
  for (; w + 1 < end; w += 2) Atomics.or(s.pairs, w >>> 1, -1n);
  if (w < end) Atomics.or(bits, w, -1);
  if (last !== -1) Atomics.or(bits, iLast, last);
}

/** Marks the blocks holding view words [w0, wLast] (w0 <= wLast), now: after their data is written. */
export function markWords(s: BitSummary, w0: number, wLast: number): void {
  markBlocks(s, w0 >>> s.shift, (wLast >>> s.shift) + 1);
}

/**
 * The marks of one writer's sequence of writes (module comment, "Deferred marks"): the run of
 * blocks [lo, hi] written since the last marks, extended in place by every write that overlaps or
 * touches it; a run that a write leaves joins a small buffer of finished runs
 * ({@link PENDING_RUNS}), all marked when the buffer fills or at {@link PendingMarks.flush}.
 */
export class PendingMarks {
  readonly #s: BitSummary;
  /** The open run of blocks [lo, hi]; empty while hi < lo. */
  #lo = 0;
  #hi = -1;
  /**
   * Finished runs not yet marked, as (lo, hi + 1) pairs; `#n` pairs in use. Allocated with the
   * first finished run: a writer per chunk makes one of these per chunk, and most chunks of a
   * sparse report finish at most one run (16 TiB of 1 GiB leaves, 256 chunks: the allocation was
   * 0.7 of the 1.7 µs a clean chunk cost).
   */
  #runs: Float64Array | null = null;
  #n = 0;

  constructor(s: BitSummary) {
    this.#s = s;
  }

  /**
   * Blocks [b0, b1] (b0 <= b1) have been written: mark them, now or at the next flush. The common
   * case, a write at or just after the open run's end (an ascending walk), is the few lines here,
   * small enough for V8 to inline into the writer's loop; the rest is out of line.
   */
  add(b0: number, b1: number): void {
    if (b0 >= this.#lo && b0 <= this.#hi + 1) {
      if (b1 > this.#hi) this.#hi = b1;
      return;
    }
    this.#addOther(b0, b1);
  }

  /** {@link add} of a write that does not start in the open run or right after it. */
  #addOther(b0: number, b1: number): void {
    const lo = this.#lo;
    const hi = this.#hi;
    if (hi >= lo && b0 <= hi + 1 && b1 >= lo - 1) {
      if (b0 < lo) this.#lo = b0;
      if (b1 > hi) this.#hi = b1;
      return;
    }
    if (hi >= lo) {
      if (this.#n === PENDING_RUNS) this.#markRuns();
      const runs = (this.#runs ??= new Float64Array(2 * PENDING_RUNS));
      const k = 2 * this.#n++;
      runs[k] = lo;
      runs[k + 1] = hi + 1;
    }
    this.#lo = b0;
    this.#hi = b1;
  }

  /** Makes the pending marks: the finished runs, then the open one. */
  flush(): void {
    this.#markRuns();
    if (this.#hi >= this.#lo) markBlocks(this.#s, this.#lo, this.#hi + 1);
    this.#lo = 0;
    this.#hi = -1;
  }

  #markRuns(): void {
    const runs = this.#runs;
    if (runs === null) return;
    for (let k = 0, e = 2 * this.#n; k < e; k += 2) markBlocks(this.#s, runs[k]!, runs[k + 1]!);
    this.#n = 0;
  }
}

/**
 * First block in [b, end) whose summary bit is 1 (`want` 0: marked) or 0 (`want` -1: unmarked),
 * or `end`: each summary word is XOR-ed with `want`, as bitKernels' nextBitOf does for view bits.
 */
function nextBlockOf(s: BitSummary, b: number, end: number, want: 0 | -1): number {
  if (b >= end) return end;
  const bits = s.bits;
  let i = b >>> 5;
  let x = (bits[i]! ^ want) & (-1 << (b & 31));
  const iEnd = (end + 31) >>> 5;
  while (x === 0) {
    if (++i >= iEnd) return end;
    x = bits[i]! ^ want;
  }
  const q = i * 32 + ctz32(x);
  return q < end ? q : end;
}

/**
 * View bits per block: at most 2^15. `1 << k`, not `2 ** k`: with the power the readers' loops
 * ran in float arithmetic, and `dirtyRanges()` over 1 TiB of 2 MiB leaves at 1 % took 2.5-2.6 ms
 * instead of 1.4 (one thread, repeated; `clear()` 0.58-0.75 against 0.56).
 */
function blockBits(s: BitSummary): number {
  return 1 << (5 + s.shift);
}

/**
 * Calls `fn(a, e)` for each maximal run of marked blocks that meets view bits [p, end), clipped to
 * them, in increasing order; without a summary, once for [p, end). Returns the sum of the results.
 * One pass over the summary words with a run of blocks carried across word edges, so a wholly
 * marked bitmap is one call.
 */
export function sumMarkedRuns(s: BitSummary | undefined, p: number, end: number, fn: (a: number, e: number) => number): number {
  if (end <= p) return 0;
  if (s === undefined) return fn(p, end);
  return visitMarkedRuns(s, p, end, false, fn);
}

/**
 * The one loop over runs of marked blocks ({@link sumMarkedRuns} reads, {@link clearMarked}
 * takes). `take`: each non-zero summary word is taken whole with Atomics.exchange before any of
 * its runs is handed to `fn`, and a run that goes on into the next words is handed over only after
 * all its words are taken (data after summary, module comment "The ordering rule"); the words at
 * the edges are not masked then (a taken mark must be acted on), so `take` is for a range that
 * covers every marked block, i.e. the whole bitmap. Runs are clipped to [p, end); an empty clip
 * is not handed over.
 */
function visitMarkedRuns(s: BitSummary, p: number, end: number, take: boolean, fn: (a: number, e: number) => number): number {
  const B = blockBits(s);
  const bits = s.bits;
  const b0 = Math.floor(p / B);
  const bEnd = Math.floor((end - 1) / B) + 1;
  const iEnd = ((bEnd - 1) >>> 5) + 1;
  let n = 0;
  // The run being built: blocks [ra, re); re === -1: none.
  let ra = 0;
  let re = -1;
  const flush = (): void => {
    const a = Math.max(p, ra * B);
    const e = Math.min(end, re * B);
    if (a < e) n += fn(a, e);
  };
  for (let i = b0 >>> 5; i < iEnd; i++) {
    if (bits[i] === 0) continue;
    let x = take ? Atomics.exchange(bits, i, 0) : bits[i]!;
    if (!take && i === b0 >>> 5) x &= -1 << (b0 & 31);
    if (!take && i === iEnd - 1 && (bEnd & 31) !== 0) x &= (1 << (bEnd & 31)) - 1;
    while (x !== 0) {
      const lo = ctz32(x);
      const hi = runEndAt(x, lo);
      const a = i * 32 + lo;
      if (a !== re) {
        if (re >= 0) flush();
        ra = a;
      }
      re = i * 32 + hi;
      x = hi === 32 ? 0 : x & (-1 << hi);
    }
  }
  if (re >= 0) flush();
  return n;
}

/**
 * Set bits among view bits [p, end), read from the marked blocks only; their whole words through
 * `wasm` when given (the bitmap's WebAssembly count, ./bitKernels.ts countWholeWords). The edge
 * blocks (partly outside [p, end)) are counted bit-exactly when marked; the blocks between, one
 * count per run of marked blocks. Its own loop rather than the run visitor (sumMarkedRuns), whose
 * run-joining it repeats: a sparse bitmap of isolated blocks (1 % of 2 MiB leaves: 5243 blocks in
 * 32 MiB) costs a count of 16 words per block, and through the visitor's per-run callback and
 * clipping a count() of it took 0.40-0.44 ms against 0.17 here (one thread, repeated).
 */
export function countMarked(v: BitViews, s: BitSummary | undefined, p: number, end: number, wasm?: CountBytes): number {
  if (end <= p) return 0;
  if (s === undefined) return countRun(v, p, end, wasm);
  const B = blockBits(s);
  const bits = s.bits;
  const b0 = Math.floor(p / B);
  const bLast = Math.floor((end - 1) / B);
  const marked = (b: number): boolean => (bits[b >>> 5]! & (1 << (b & 31))) !== 0;
  if (b0 === bLast) return marked(b0) ? countRun(v, p, end, wasm) : 0;
  let n = 0;
  if (marked(b0)) n += countRun(v, p, (b0 + 1) * B, wasm);
  if (marked(bLast)) n += countRun(v, bLast * B, end, wasm);
  return n + countMarkedBlocks(v.words, bits, s.shift, b0 + 1, bLast, wasm);
}

/**
 * Set bits in the marked ones of whole blocks [lo, hi) (lo <= hi): see {@link countMarked}. A run
 * of marked blocks that goes on into the next summary word is counted once, when it ends: a wholly
 * marked bitmap is one count of all its words (a count per summary word, 2 KiB of bitmap, made a
 * dense report's counts 15-25 % slower than flat ones).
 */
function countMarkedBlocks(words: Int32Array, bits: Int32Array, shift: number, lo: number, hi: number, wasm: CountBytes | undefined): number {
  let n = 0;
  // Words per block. A product below, not a shift: word indices reach 2^32. `1 << shift`, not
  // `2 ** shift`: the latter left the loop in float arithmetic, 5x slower (0.17 vs 1.0 ms here).
  const W = 1 << shift;
  const iEnd = (hi + 31) >>> 5;
  // The run of marked blocks [ra, re) not counted yet; re === -1: none.
  let ra = 0;
  let re = -1;
  for (let i = lo >>> 5; i < iEnd; i++) {
    let x = bits[i]!;
    if (x === 0) continue;
    if (i === lo >>> 5) x &= -1 << (lo & 31);
    if (i === iEnd - 1 && (hi & 31) !== 0) x &= (1 << (hi & 31)) - 1;
    while (x !== 0) {
      const a = ctz32(x);
      const e = runEndAt(x, a);
      if (i * 32 + a !== re) {
        if (re >= 0) n += countWholeWords(words, ra * W, re * W, wasm);
        ra = i * 32 + a;
      }
      re = i * 32 + e;
      x = e === 32 ? 0 : x & (-1 << e);
    }
  }
  if (re >= 0) n += countWholeWords(words, ra * W, re * W, wasm);
  return n;
}

/**
 * The first view bit at or after `p`, below `end`, that lies in a marked block, or -1; `p` itself
 * without a summary (−1 when p >= end). With {@link markedRunEndAt}, a reader walks the runs of
 * marked blocks and scans only their data (IovaBitmap.dirtyRanges): an unmarked block holds no
 * set bit once the writers stopped (module comment).
 */
export function markedFrom(s: BitSummary | undefined, p: number, end: number): number {
  if (p >= end) return -1;
  if (s === undefined) return p;
  const B = blockBits(s);
  const last = Math.floor((end - 1) / B) + 1;
  const m = nextBlockOf(s, Math.floor(p / B), last, 0);
  return m >= last ? -1 : Math.max(p, m * B);
}

/**
 * The end, clipped to `end`, of the run of marked blocks that holds view bit `a` (a result of
 * {@link markedFrom}); `end` without a summary. One pass over the run's summary words, so a
 * reader that walks run by run reads each summary word once.
 */
export function markedRunEndAt(s: BitSummary | undefined, a: number, end: number): number {
  if (s === undefined) return end;
  const B = blockBits(s);
  const last = Math.floor((end - 1) / B) + 1;
  return Math.min(end, nextBlockOf(s, Math.floor(a / B) + 1, last, -1) * B);
}

/**
 * Clears view bits [p, end), the whole bitmap: takes each non-zero summary word with
 * Atomics.exchange, then zeroes the data of the blocks it held, clipped to [p, end) (module
 * comment, "The ordering rule"). A run of marked blocks that goes on into the next summary words is
 * zeroed once, after all their words are taken (still data after summary, for every block), so a
 * wholly dirty bitmap is one clear of its words. Without a summary, all of [p, end).
 */
export function clearMarked(v: BitViews, s: BitSummary | undefined, p: number, end: number): void {
  if (s === undefined) clearRun(v, p, end);
  else if (end > p) {
    // Over every block (take mode), the data cleared only within [p, end).
    visitMarkedRuns(s, 0, Math.max(end, s.blocks * blockBits(s)), true, (a, e) => {
      const lo = Math.max(p, a);
      const hi = Math.min(end, e);
      if (lo < hi) clearRun(v, lo, hi);
      return 0;
    });
  }
}

/**
 * Rebuilds the summary from the data of view bits [p, end) (the bitmap's bits; the bits of its
 * words outside them are ignored): each block marked exactly when it holds a set bit. One read of
 * the bitmap: a block wholly inside [p, end) is an OR of its words, an edge block a bit scan. Not
 * safe against concurrent writers of the bitmap (a mark made during the rebuild may be
 * overwritten).
 */
export function rebuildSummary(v: BitViews, s: BitSummary, p: number, end: number): void {
  const B = blockBits(s);
  const per = 2 ** s.shift;
  const { words } = v;
  const bits = s.bits;
  for (let i = 0; i < bits.length; i++) {
    let x = 0;
    for (let j = 0, b = i * 32; j < 32 && b < s.blocks; j++, b++) {
      const a = Math.max(p, b * B);
      const e = Math.min(end, (b + 1) * B);
      if (a >= e) continue;
      let any: boolean;
      const w0 = b * per;
      if (a === b * B && e === a + B && w0 + per <= words.length) {
        let o = 0;
        for (let w = w0; w < w0 + per; w++) o |= words[w]!;
        any = o !== 0;
      } else {
        any = nextSetBit(v, a, e) >= 0;
      }
      if (any) x |= 1 << j;
    }
    bits[i] = x;
  }
}

/**
 * ORs view bits [a, e) of `src` into `dst` at view bit a + d (d = dst bit 0 − src bit 0), keeping
 * dst's bits outside [lo, hi) (its bitmap) untouched. Zero words are skipped; with d = 0 a source
 * word of all ones that is wholly inside both ranges is a plain store (the all-ones rule of
 * ./bitKernels.ts), any other word an Atomics.or; with d ≠ 0 each word is a shifted mask (one or
 * two Atomics.or). Returns nothing: the caller marks dst's summary after it.
 */
export function orBitsInto(src: BitViews, a: number, e: number, dst: BitViews, d: number, lo: number, hi: number): void {
  const w0 = Math.floor(a / 32);
  for (let w = w0, wEnd = Math.floor((e - 1) / 32); w <= wEnd; w++) {
    const from = w === w0 ? a - w * 32 : 0;
    const to = w === wEnd ? e - w * 32 : 32;
    const x = loadWord(src, w) & spanMask(from, to);
    if (x === 0) continue;
    if (d !== 0) {
      orMaskAt(dst, w * 32 + d, x, lo, hi);
    } else if (x === -1 && w * 32 >= lo && w * 32 + 32 <= hi && w < dst.words.length) {
      dst.words[w] = -1;
    } else {
      orWord(dst, w, x);
    }
  }
}
