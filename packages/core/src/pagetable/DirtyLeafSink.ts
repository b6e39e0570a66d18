/**
 * Where a page-table walk puts the dirty leaves it finds: the caller's bitmap, or nowhere.
 *
 * Theory of operation
 * -------------------
 * The walk hands over dirty leaves in two shapes: a 32-bit mask of 4 KiB leaves (from the block
 * kernels, ./leafScanKernels.ts) or one leaf of any size (a huge page, an AMD replicated page).
 * {@link BitmapSink} turns them into bitmap writes, clipped to the report's clip range:
 * - a mask, when the bitmap has 4 KiB pages: one `orMask` (one Atomics.or when the 32 bits are one
 *   aligned word of the buffer, two otherwise);
 * - a mask otherwise: one `setUnits` per run of consecutive dirty leaves (at 100% density, one per
 *   block);
 * - a leaf: one `setUnits` over [max(a, clipLo), min(b, clipHi)).
 * It also counts dirty leaves and the bitmap bits the records cover (SourceStats).
 * {@link DiscardSink} only counts; it serves the clean snapshot taken when tracking is enabled.
 *
 * Page numbers are 4 KiB page indices (numbers, exact below 2^53).
 */
import { popcount32 } from '../bitmap/bitKernels.js';
import type { IovaBitmap } from '../bitmap/IovaBitmap.js';
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

/** Count trailing zeros of a non-zero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Records into an {@link IovaBitmap}; see the module comment. */
export class BitmapSink implements DirtyLeafSink {
  dirtyLeaves = 0;
  bitsMarked = 0;
  readonly #bitmap: IovaBitmap;
  readonly #clipLo: number;
  readonly #clipHi: number;
  /** Bitmap pages are 4 KiB: a mask maps onto 32 consecutive bits. */
  readonly #fast: boolean;
  /** Bitmap bit of page p is p + pageToBit (fast mode). */
  readonly #pageToBit: number;

  /**
   * @param clipLoPage - first 4 KiB page of the clip range
   * @param clipHiPage - one past its last page
   */
  constructor(bitmap: IovaBitmap, clipLoPage: number, clipHiPage: number) {
    this.#bitmap = bitmap;
    this.#clipLo = clipLoPage;
    this.#clipHi = clipHiPage;
    this.#fast = bitmap.pageShift === 12;
    this.#pageToBit = bitmap.bitOfUnit(0, 12);
  }

  leafMask(firstPage: number, mask: number): void {
    const n = popcount32(mask);
    this.dirtyLeaves += n;
    if (this.#fast) {
      this.bitsMarked += n;
      this.#bitmap.orMask(firstPage + this.#pageToBit, mask);
      return;
    }
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
    const s = start > this.#clipLo ? start : this.#clipLo;
    const end = start + pages;
    const e = end < this.#clipHi ? end : this.#clipHi;
    if (s < e) this.#record(s, e);
  }

  /** Sets the bits of pages [s, e) and counts them. */
  #record(s: number, e: number): void {
    const bm = this.#bitmap;
    bm.setUnits(s, e - s, 12);
    const ps = bm.pageShift;
    this.bitsMarked += ps <= 12 ? (e - s) * 2 ** (12 - ps) : bm.bitOfUnit(e - 1, 12) - bm.bitOfUnit(s, 12) + 1;
  }
}

/** Counts dirty leaves and records nothing (the clean snapshot at enable time). */
export class DiscardSink implements DirtyLeafSink {
  dirtyLeaves = 0;
  bitsMarked = 0;
  leafMask(_firstPage: number, mask: number): void {
    this.dirtyLeaves += popcount32(mask);
  }
  leafRun(): void {
    this.dirtyLeaves++;
  }
}
