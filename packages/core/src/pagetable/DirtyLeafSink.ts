/**
 * Where a page-table walk puts the dirty leaves it finds: the caller's bitmap, or nowhere.
 *
 * Theory of operation
 * -------------------
 * The walk hands over dirty leaves in two shapes: a 32-bit mask of 4 KiB leaves (from the block
 * kernels, ./leafScanKernels.ts) or one leaf of any size (a huge page, an AMD replicated page).
 * {@link LeafSink} turns them into bitmap writes, clipped to the report's clip range, in one of
 * four modes fixed when it is made:
 * - `direct` (4 KiB bitmap pages, a mask's 32 pages map onto one word of the bitmap's memory, and
 *   the bitmap's `orMask` is IovaBitmap's own): a mask whose word lies wholly inside the bitmap's
 *   bits is one `Atomics.or` into the bitmap's word view (`bitmapViews`; ../bitmap/bitKernels.ts
 *   `orWholeWord`); an edge word goes the `mask` way. The vtd-ss table pass hands over a whole
 *   leaf table's masks in one `leafPairs` call: one loop and one edge test per table; the masks
 *   go in four per call with WebAssembly atomics when the bitmap is a WebAssembly memory
 *   (../bitmap/bitmapKernel.ts), with a plain `|=` when its memory is not shared (a plain
 *   ArrayBuffer: no other thread can reach it; `orWholeWordAt`), else with Atomics.or. A huge
 *   leaf (2 MiB, 1 GiB: whole words) inside the clip range and the bitmap's whole words is a fill
 *   of all-ones words (`fillWords`), not a `setUnits` with its argument checks; consecutive huge
 *   leaves extend one run of words, whose blocks are worked out once, when the run ends. The
 *   summary blocks written join the pending run of marks (../bitmap/bitSummary.ts PendingMarks),
 *   marked when the run breaks or at `close()`;
 * - `mask` (4 KiB pages otherwise): one `orMask` per mask (one or two Atomics.or), through the
 *   recorder both sources share (../ClipRecorder.ts). A subclass of IovaBitmap that overrides
 *   `orMask` (a test hook, the per-bit reference writer) lands here, so it sees every write;
 * - `runs` (other page sizes): one `setUnits` per run of consecutive dirty leaves of a mask (at
 *   100% density, one per block), through the same recorder;
 * - `discard`: records nothing (the clean snapshot taken when tracking is enabled).
 * A leaf is one record of its 4 KiB pages, clipped to the clip range, in every mode but `discard`
 * (ClipRecorder.recordClipped). Masks need no clipping to the clip range: the walk only hands over
 * leaves it owns, and 4 KiB leaves it owns lie inside the clip range. The sink counts dirty leaves
 * (one per leaf, a replicated page once) and the bitmap bits the records cover (SourceStats; for
 * 4 KiB leaves recorded as a run into a coarser bitmap, the bits the run covers).
 *
 * One class for every mode, not one class per mode, so that the kernels' call sites see a single
 * class and stay monomorphic (docs/bench/pteWalk.md §4). `leafMask` keeps only the direct path
 * inline (and counts a full mask without a population count), so that the kernels can inline it;
 * everything else is out of line.
 *
 * Page numbers are 4 KiB page indices (numbers, exact below 2^53).
 */
import { fillWords, popcount32, wholeWordsOf, orWholeWord, orWholeWordAt, type WholeWords } from '../bitmap/bitKernels.js';
import { PendingMarks } from '../bitmap/bitSummary.js';
import type { Or4 } from '../bitmap/bitmapKernel.js';
import { IovaBitmap, bitmapKernel, bitmapViews } from '../bitmap/IovaBitmap.js';
import { ClipRecorder } from '../ClipRecorder.js';
import { PAGE_SHIFT } from '../sizes.js';
import type { LeafMaskSink } from './leafScanKernels.js';

/** What the walk needs from a sink. */
export interface DirtyLeafSink extends LeafMaskSink {
  /** Dirty leaves recorded so far (a replicated page counts once). */
  dirtyLeaves: number;
  /** Bitmap bits covered by the records so far. */
  bitsMarked: number;
  /** One dirty leaf of `pages` 4 KiB pages starting at page `start`. */
  leafRun(start: number, pages: number): void;
}

const DISCARD = 0;
const DIRECT = 1;
const MASK = 2;
const RUNS = 3;

const NO_WORDS = new Int32Array(0);
const NO_WHOLE_WORDS: WholeWords = wholeWordsOf(0, 0);
/** `direct` without a summary: a block shift so large that the walk leaves a block almost never. */
const NO_BLOCKS = 31;

/** Records into an {@link IovaBitmap}, or discards; see the module comment. */
export class LeafSink extends ClipRecorder implements DirtyLeafSink {
  readonly #mode: number;
  /** `direct`: the bitmap's words; word of the 32-aligned page f is f / 32 + wordOfPage0. */
  readonly #words: Int32Array;
  readonly #wordOfPage0: number;
  /** `direct`: the words wholly inside the bitmap's bits. */
  readonly #whole: WholeWords;
  /** `direct`: the marks of the words this path writes itself (the bitmap's own writes mark themselves). */
  readonly #marks: PendingMarks | undefined;
  /** `direct`: log2 of the summary's words per block. */
  readonly #blockShift: number;
  /** `direct`: the block of the last word written, already in {@link LeafSink.#marks}; -1: none. */
  #block = -1;
  /**
   * `direct`: the words [#leafRunLo, #leafRunHi) filled by consecutive huge leaves, not yet in
   * {@link LeafSink.#marks} (they go in when a leaf does not continue them, and at close).
   */
  #leafRunLo = 0;
  #leafRunHi = 0;
  /** `direct`: the bitmap's memory is shared (masks go in with Atomics.or, else `|=`; ../bitmap/bitKernels.ts orWholeWordAt). */
  readonly #atomic: boolean;
  /** `direct`: the WebAssembly OR into the bitmap's memory, or null (../bitmap/bitmapKernel.ts). */
  readonly #or4: Or4 | null;
  /** `direct`: byte address of word 0 of the bitmap's views in its memory. */
  readonly #wordByte0: number;

  /**
   * A sink into `bitmap` for a report whose clip range is IOVA [clipLo, clipHi); without a
   * bitmap, one that records nothing (and only counts dirty leaves).
   */
  constructor(bitmap?: IovaBitmap, clipLo = 0n, clipHi = 0n) {
    super(bitmap, PAGE_SHIFT, clipLo, clipHi, false);
    let mode = DISCARD;
    let abs = 1;
    const mem = bitmap === undefined ? undefined : bitmapViews(bitmap);
    if (bitmap !== undefined) {
      mode = RUNS;
      if (bitmap.pageShift === PAGE_SHIFT) {
        abs = mem!.bitBase + bitmap.bitOfUnit(0, PAGE_SHIFT);
        // Own orMask only: a subclass that overrides it must see every mask.
        mode = abs % 32 === 0 && bitmap.orMask === IovaBitmap.prototype.orMask ? DIRECT : MASK;
      }
    }
    const direct = mode === DIRECT;
    this.#mode = mode;
    this.#words = direct ? mem!.views.words : NO_WORDS;
    this.#wordOfPage0 = direct ? abs / 32 : 0;
    this.#whole = direct ? wholeWordsOf(mem!.bitBase, mem!.bitBase + bitmap!.nbits) : NO_WHOLE_WORDS;
    const summary = direct ? mem!.summary : undefined;
    this.#marks = summary === undefined ? undefined : new PendingMarks(summary);
    this.#blockShift = summary?.shift ?? NO_BLOCKS;
    this.#atomic = !direct || mem!.views.words.buffer instanceof SharedArrayBuffer;
    this.#or4 = direct && this.#atomic ? (bitmapKernel(bitmap!)?.or4 ?? null) : null;
    this.#wordByte0 = direct ? mem!.views.words.byteOffset : 0;
  }

  /**
   * The dirty blocks of one leaf table, as the vtd-ss table pass leaves them
   * (./leafScanKernels.ts scanBitTable): `n` (block byte offset, mask) pairs at words
   * `w[q .. q + 2n)`, in increasing order; the block at byte offset `o` starts at page
   * `page0 + (o - base) / 8`. In `direct` mode, when every word lies wholly inside the bitmap's
   * bits, one loop ORs the masks in (Atomics.or into shared memory, `|=` into plain memory,
   * all-ones stored) and marks the summary block(s) once; otherwise {@link leafMask} per pair.
   */
  leafPairs(w: Int32Array, q: number, n: number, page0: number, base: number): void {
    const e = q + 2 * n;
    if (this.#mode === DIRECT && n !== 0) {
      const w0 = page0 / 32 + this.#wordOfPage0;
      const first = w0 + ((w[q]! - base) >> 8);
      const last = w0 + ((w[e - 2]! - base) >> 8);
      if (first >= this.#whole.first && last < this.#whole.end) {
        if (this.#or4 === null) this.#orPairs(w, q, e, w0, base);
        else this.#orPairsWasm(this.#or4, w, q, e, w0, base);
        // The summary's pending run (../bitmap/bitSummary.ts PendingMarks): a table of another
        // block than the last extends it, or marks it and starts the next.
        const shift = this.#blockShift;
        if (first >>> shift !== this.#block || last >>> shift !== this.#block) this.#enterBlocks(first, last);
        return;
      }
    }
    for (; q < e; q += 2) this.leafMask(page0 + ((w[q]! - base) >> 3), w[q + 1]!);
  }

  /** {@link leafPairs}' loop: pairs w[q .. e) into the words from `w0`, counted. */
  #orPairs(w: Int32Array, q: number, e: number, w0: number, base: number): void {
    const words = this.#words;
    const atomic = this.#atomic;
    let bits = 0;
    for (; q < e; q += 2) {
      const m = w[q + 1]!;
      orWholeWordAt(words, w0 + ((w[q]! - base) >> 8), m, atomic);
      bits += m === -1 ? 32 : popcount32(m);
    }
    this.dirtyLeaves += bits;
    this.bitsMarked += bits;
  }

  /**
   * {@link leafPairs}' loop into a bitmap in WebAssembly memory: four pairs per {@link Or4} call
   * (byte address of word i: `#wordByte0 + 4 i`; a block at byte offset o - base is word
   * (o - base) / 256 of the table, 4 (o - base) / 256 = (o - base) >> 6 bytes on), a zero mask for
   * each missing pair; the kernel counts the bits. Four whole blocks are four plain stores here:
   * at 100 % dirty a call per four blocks made the walk 7 % slower than into a SharedArrayBuffer.
   */
  #orPairsWasm(or4: Or4, w: Int32Array, q: number, e: number, w0: number, base: number): void {
    const a = this.#wordByte0 + 4 * w0 - (base >> 6);
    const words = this.#words;
    let bits = 0;
    for (; q < e; q += 8) {
      const r = e - q;
      const m0 = w[q + 1]!;
      const m1 = r > 2 ? w[q + 3]! : 0;
      const m2 = r > 4 ? w[q + 5]! : 0;
      const m3 = r > 6 ? w[q + 7]! : 0;
      if ((m0 & m1 & m2 & m3) === -1) {
        // Four whole blocks (a dense walk): plain stores from here, no call.
        const i = w0 - (base >> 8);
        words[i + (w[q]! >> 8)] = -1;
        words[i + (w[q + 2]! >> 8)] = -1;
        words[i + (w[q + 4]! >> 8)] = -1;
        words[i + (w[q + 6]! >> 8)] = -1;
        bits += 128;
        continue;
      }
      bits += or4(a + (w[q]! >> 6), m0, r > 2 ? a + (w[q + 2]! >> 6) : a, m1, r > 4 ? a + (w[q + 4]! >> 6) : a, m2, r > 6 ? a + (w[q + 6]! >> 6) : a, m3);
    }
    this.dirtyLeaves += bits;
    this.bitsMarked += bits;
  }

  /**
   * `direct`: the run of huge leaves' words [#leafRunLo, #leafRunHi) joins the pending marks (after
   * its words were written), and a new, empty one starts at word `next`. Out of line: once per run.
   */
  #endLeafRun(next: number): void {
    if (this.#leafRunHi > this.#leafRunLo) this.#marks?.add(this.#leafRunLo >>> this.#blockShift, (this.#leafRunHi - 1) >>> this.#blockShift);
    this.#leafRunLo = next;
    this.#leafRunHi = next;
  }

  /**
   * `direct`: the walk wrote words `first` .. `last` (one word for leafMask; a leaf table's, in one
   * or two blocks, for leafPairs), not all in the block written last: their blocks go to the pending
   * marks (a run, made when a write leaves it or at {@link close}: after every word it covers is
   * written, ../bitmap/bitSummary.ts). Out of line: once per block.
   */
  #enterBlocks(first: number, last: number): void {
    const b = last >>> this.#blockShift;
    this.#block = b;
    this.#marks?.add(first >>> this.#blockShift, b);
  }

  leafMask(firstPage: number, mask: number): void {
    const n = mask === -1 ? 32 : popcount32(mask);
    this.dirtyLeaves += n;
    const mode = this.#mode;
    if (mode === DIRECT) {
      this.bitsMarked += n;
      const w = firstPage / 32 + this.#wordOfPage0;
      if (orWholeWord(this.#words, w, mask, this.#whole)) {
        if (w >>> this.#blockShift !== this.#block) this.#enterBlocks(w, w);
        return;
      }
    } else if (mode === DISCARD) {
      return;
    }
    this.#maskOtherwise(firstPage, mask, n);
  }

  /**
   * Ends the walk's writes (in a `finally`): the deferred marks of the recorder and of the direct
   * path. Until then the last words written are in the bitmap but not yet in its summary (a thread
   * that dies in between leaves them there: the pool then marks the whole summary, see workers'
   * pool/reportRun.ts; any other caller uses `rescan()`).
   */
  override close(): void {
    try {
      this.#endLeafRun(0);
      this.#block = -1;
      this.#marks?.flush();
    } finally {
      super.close();
    }
  }

  /**
   * A mask of `n` leaves, counted above, that is not a whole word of a `direct` bitmap: an edge
   * word, `mask` or `runs` mode. The recorder counts what it writes, so the counts above are taken
   * back first. Out of line: the kernels inline only the direct path.
   */
  #maskOtherwise(firstPage: number, mask: number, n: number): void {
    this.dirtyLeaves -= n;
    if (this.#mode === DIRECT) this.bitsMarked -= n;
    this.recordMask(firstPage, mask);
  }

  leafRun(start: number, pages: number): void {
    this.dirtyLeaves++;
    const mode = this.#mode;
    if (mode === DIRECT && ((start | pages) & 31) === 0 && this.#wholeLeaf(start, pages)) return;
    if (mode !== DISCARD) this.recordClipped(start, start + pages);
  }

  /**
   * `direct`: a leaf of whole bitmap words (a 2 MiB or 1 GiB page: its start and size are
   * multiples of 32 pages) wholly inside the clip range and the bitmap's whole words is stored as
   * all-ones words (../bitmap/bitKernels.ts fillWords), and its words extend the run of words the
   * leaves before it filled, whose blocks join the pending marks when the run ends
   * ({@link LeafSink.#endLeafRun}): none of `setUnits`' argument checks and unit arithmetic per leaf.
   * False (nothing written) otherwise; the caller then records it through the recorder.
   */
  #wholeLeaf(start: number, pages: number): boolean {
    if (start < this.inLo || start + pages > this.inHi) return false;
    const first = start / 32 + this.#wordOfPage0;
    const end = first + pages / 32;
    if (first < this.#whole.first || end > this.#whole.end) return false;
    fillWords(this.#words, first, end);
    this.bitsMarked += pages;
    // The leaf's words continue the run of the leaves before it (a dense walk: every leaf), or
    // end it: its marks then go in (#endLeafRun). A compare and a store per leaf, the same with
    // and without a summary: its blocks are worked out once per run, not per leaf (at 100 % of
    // 2 MiB leaves, one block per leaf, that cost the walk ~1.5 ns a leaf over the flat design).
    if (first !== this.#leafRunHi) this.#endLeafRun(first);
    this.#leafRunHi = end;
    return true;
  }
}
