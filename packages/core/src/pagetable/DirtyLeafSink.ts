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
 *   bits is one `Atomics.or` into the bitmap's word view (`bitmapViews`; ../bitmap/bitKernels.ts `orWholeWord`); an edge word
 *   goes through `orMask`, which clips at the bitmap's first and last bit;
 * - `mask` (4 KiB pages otherwise): one `orMask` per mask (one or two Atomics.or). A subclass of
 *   IovaBitmap that overrides `orMask` (a test hook, the per-bit reference writer) lands here, so
 *   it sees every write;
 * - `runs` (other page sizes): one `setUnits` per run of consecutive dirty leaves (at 100%
 *   density, one per block);
 * - `discard`: records nothing (the clean snapshot taken when tracking is enabled).
 * A leaf is one `setUnits` over [max(a, clipLo), min(b, clipHi)) in every mode but `discard`.
 * Masks need no clipping to the clip range: the walk only hands over leaves it owns, and 4 KiB
 * leaves it owns lie inside the clip range. The sink counts dirty leaves and the bitmap bits the
 * records cover (SourceStats).
 *
 * One class for every mode, not one class per mode, so that the kernels' call sites see a single
 * class and stay monomorphic (docs/bench/pteWalk.md §4). `leafMask` keeps only the direct path
 * inline (and counts a full mask without a population count), so that the kernels can inline it;
 * everything else is out of line.
 *
 * Page numbers are 4 KiB page indices (numbers, exact below 2^53).
 */
import { popcount32, wholeWordsOf, orWholeWord, type WholeWords } from '../bitmap/bitKernels.js';
import { IovaBitmap, bitmapViews } from '../bitmap/IovaBitmap.js';
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

/** Count trailing zeros of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

const NO_WORDS = new Int32Array(0);
const NO_WHOLE_WORDS: WholeWords = wholeWordsOf(0, 0);

/** Records into an {@link IovaBitmap}, or discards; see the module comment. */
export class LeafSink implements DirtyLeafSink {
  dirtyLeaves = 0;
  bitsMarked = 0;
  readonly #mode: number;
  readonly #bitmap: IovaBitmap | undefined;
  readonly #clipLo: number;
  readonly #clipHi: number;
  /** Bitmap bit of page p is p + pageToBit (4 KiB bitmap pages). */
  readonly #pageToBit: number;
  /** `direct`: the bitmap's words; word of the 32-aligned page f is f / 32 + wordOfPage0. */
  readonly #words: Int32Array;
  readonly #wordOfPage0: number;
  /** `direct`: the words wholly inside the bitmap's bits. */
  readonly #whole: WholeWords;

  /**
   * A sink into `bitmap` for a report whose clip range is 4 KiB pages [clipLoPage, clipHiPage);
   * without a bitmap, one that records nothing (and only counts dirty leaves).
   */
  constructor(bitmap?: IovaBitmap, clipLoPage = 0, clipHiPage = 0) {
    let mode = DISCARD;
    let pageToBit = 0;
    let abs = 1;
    const mem = bitmap === undefined ? undefined : bitmapViews(bitmap);
    if (bitmap !== undefined) {
      mode = RUNS;
      if (bitmap.pageShift === 12) {
        pageToBit = bitmap.bitOfUnit(0, 12);
        abs = mem!.bitBase + pageToBit;
        // Own orMask only: a subclass that overrides it must see every mask.
        mode = abs % 32 === 0 && bitmap.orMask === IovaBitmap.prototype.orMask ? DIRECT : MASK;
      }
    }
    const direct = mode === DIRECT;
    this.#mode = mode;
    this.#bitmap = bitmap;
    this.#clipLo = clipLoPage;
    this.#clipHi = clipHiPage;
    this.#pageToBit = pageToBit;
    this.#words = direct ? mem!.views.words : NO_WORDS;
    this.#wordOfPage0 = direct ? abs / 32 : 0;
    this.#whole = direct ? wholeWordsOf(mem!.bitBase, mem!.bitBase + bitmap!.nbits) : NO_WHOLE_WORDS;
  }

  leafMask(firstPage: number, mask: number): void {
    const n = mask === -1 ? 32 : popcount32(mask);
    this.dirtyLeaves += n;
    const mode = this.#mode;
    if (mode === DIRECT) {
      this.bitsMarked += n;
      if (orWholeWord(this.#words, firstPage / 32 + this.#wordOfPage0, mask, this.#whole)) return;
    } else if (mode === DISCARD) {
      return;
    }
    this.#maskOtherwise(firstPage, mask, n);
  }

  /**
   * A mask of `n` leaves that is not a whole word of a `direct` bitmap: an edge word (already
   * counted), `mask` or `runs` mode. Out of line: the kernels inline only the direct path.
   */
  #maskOtherwise(firstPage: number, mask: number, n: number): void {
    const mode = this.#mode;
    if (mode === RUNS) {
      this.#runs(firstPage, mask);
      return;
    }
    if (mode === MASK) this.bitsMarked += n;
    this.#bitmap!.orMask(firstPage + this.#pageToBit, mask);
  }

  /** `runs` mode: one record per run of consecutive set bits of `mask`. */
  #runs(firstPage: number, mask: number): void {
    let m = mask;
    while (m !== 0) {
      const s = ctz(m);
      const rest = ~(m >>> s);
      const len = rest === 0 ? 32 - s : ctz(rest);
      this.#record(firstPage + s, firstPage + s + len);
      m = len + s >= 32 ? 0 : m & (-1 << (s + len));
    }
  }

  leafRun(start: number, pages: number): void {
    this.dirtyLeaves++;
    if (this.#mode === DISCARD) return;
    const s = start > this.#clipLo ? start : this.#clipLo;
    const end = start + pages;
    const e = end < this.#clipHi ? end : this.#clipHi;
    if (s < e) this.#record(s, e);
  }

  /** Sets the bits of pages [s, e) and counts them. */
  #record(s: number, e: number): void {
    const bm = this.#bitmap!;
    bm.setUnits(s, e - s, 12);
    const ps = bm.pageShift;
    this.bitsMarked += ps <= 12 ? (e - s) * 2 ** (12 - ps) : bm.bitOfUnit(e - 1, 12) - bm.bitOfUnit(s, 12) + 1;
  }
}
