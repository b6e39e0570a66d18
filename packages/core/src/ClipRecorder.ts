/**
 * Records a dirty source's units into the caller's bitmap, clipped to the report's range, and
 * counts them: the recorder both sources share (the page table's ./pagetable/DirtyLeafSink.ts
 * extends it; the VF tracker's ./tracker/trackerReport.ts uses it as is).
 *
 * Theory of operation
 * -------------------
 * A source counts IOVA in *units* of 2^s bytes: 4 KiB pages for the page table (a leaf is a run
 * of them), tracker pages for the VF tracker. A record of units [a, b) is written clipped to the
 * report's clip range [clipLo, clipHi) (the ownership rule of ./DirtySource.ts: clipped to the
 * report, never to a chunk). Units [inLo, inHi) lie wholly inside the clip range; a run of them is
 * one `bitmap.setUnits(a, n, s)` in numbers. A unit that sticks out (at most one at each end, when
 * clipLo or clipHi is not a multiple of 2^s: a tracker page coarser than the report's alignment)
 * goes through the exact bigint `bitmap.set` of its clipped bytes; units wholly outside are
 * dropped. A mask of 32 units (bit j = unit u + j) whose units are each one bitmap page and lie
 * wholly inside is one `bitmap.orMask` (one or two Atomics.or); any other mask goes run by run
 * (../bitmap/bitKernels.ts `recordRuns`, the one mask-to-runs loop).
 *
 * Counting (SourceStats, ./DirtySource.ts). `dirtyLeaves`: every unit that `record` and
 * `recordMask` write is one record (the tracker's rule: a tracker page is a record); a subclass
 * whose records are larger (a page-table leaf of many 4 KiB units) writes them through
 * {@link ClipRecorder.recordSpan} and counts them itself. `bitsMarked`: the bitmap bits each
 * written span covers; when a unit is finer than a bitmap page, either the bits a whole span covers
 * (`unitsAreRecords` false) or one bit per unit (true: each record counted, overlaps again).
 *
 * Summary marks (./bitmap/bitSummary.ts). The recorder writes through the bitmap's own methods,
 * which mark the bitmap's summary after each write; between {@link ClipRecorder.open} and
 * {@link ClipRecorder.close} (a source's chunk, the close in a `finally`) those marks are collected
 * and made once per summary word (`deferMarks`), so a chunk of 2 MiB leaves pays one atomic per 32
 * leaves, not one per leaf.
 *
 * Unit numbers are plain numbers (a unit of at least 4 KiB has a number below 2^52).
 */
import { popcount32, recordRuns, type RunSink } from './bitmap/bitKernels.js';
import { deferMarks, type IovaBitmap } from './bitmap/IovaBitmap.js';

/** See the module comment. */
export class ClipRecorder implements RunSink {
  /** Records written (see the module comment for what a record is). */
  dirtyLeaves = 0;
  /** Bitmap bits covered by the records written. */
  bitsMarked = 0;
  readonly #bitmap: IovaBitmap | undefined;
  readonly #shift: number;
  readonly #clipLo: bigint;
  readonly #clipHi: bigint;
  /** Units [inLo, inHi) lie wholly inside the clip range; [outLo, outHi) overlap it. */
  protected readonly inLo: number;
  protected readonly inHi: number;
  readonly #outLo: number;
  readonly #outHi: number;
  /** When a unit is one bitmap page: bitmap bit of unit u = u + unitToBit (exact); NaN otherwise. */
  readonly #unitToBit: number;
  /** Bitmap bits of one whole unit (1 when finer than a page, if units are records), or 0: count the span. */
  readonly #bitsPerUnit: number;

  /**
   * A recorder of units of 2^unitShift bytes into `bitmap`, clipped to IOVA [clipLo, clipHi).
   * Without a bitmap (a walk that only clears), nothing may be recorded.
   * @param unitsAreRecords - count one record, and when a unit is finer than a bitmap page one
   *   bit, per unit (module comment)
   */
  constructor(bitmap: IovaBitmap | undefined, unitShift: number, clipLo: bigint, clipHi: bigint, unitsAreRecords: boolean) {
    const s = BigInt(unitShift);
    this.#bitmap = bitmap;
    this.#shift = unitShift;
    this.#clipLo = clipLo;
    this.#clipHi = clipHi;
    this.inLo = Number((clipLo + (1n << s) - 1n) >> s);
    this.inHi = Number(clipHi >> s);
    this.#outLo = Number(clipLo >> s);
    this.#outHi = Number((clipHi + (1n << s) - 1n) >> s);
    const d = bitmap === undefined ? 0 : unitShift - bitmap.pageShift;
    const toBit = bitmap === undefined || d !== 0 ? NaN : bitmap.bitOfUnit(0, unitShift);
    this.#unitToBit = Number.isSafeInteger(toBit) ? toBit : NaN;
    this.#bitsPerUnit = d >= 0 ? 2 ** d : unitsAreRecords ? 1 : 0;
  }

  /** Starts a chunk's writes: the bitmap's summary marks are deferred until {@link close}. */
  open(): void {
    if (this.#bitmap !== undefined) deferMarks(this.#bitmap, true);
  }

  /** Ends a chunk's writes (call it in a `finally` after {@link open}): makes the deferred marks. */
  close(): void {
    if (this.#bitmap !== undefined) deferMarks(this.#bitmap, false);
  }

  /** Units [unit, unit + count), each one record. */
  record(unit: number, count: number): void {
    this.dirtyLeaves += this.recordSpan(unit, unit + count);
  }

  /** The units whose bits are set in `mask` (bit j = unit `unit + j`), each one record. */
  recordMask(unit: number, mask: number): void {
    const toBit = this.#unitToBit;
    if (unit >= this.inLo && unit + 32 <= this.inHi && toBit === toBit) {
      this.#bitmap!.orMask(unit + toBit, mask);
      const n = popcount32(mask);
      this.dirtyLeaves += n;
      this.bitsMarked += n;
      return;
    }
    recordRuns(mask, unit, this);
  }

  /**
   * Writes units [a, b), any span of units however far it reaches past the clip range (a page-table
   * leaf), clipped to it; see {@link ClipRecorder.recordSpan}.
   * @returns the units that overlap the clip range
   */
  recordClipped(a: number, b: number): number {
    if (a < this.#outLo) a = this.#outLo;
    if (b > this.#outHi) b = this.#outHi;
    return a < b ? this.recordSpan(a, b) : 0;
  }

  /**
   * Writes units [a, b), all of which overlap the clip range (at most the first and the last stick
   * out of it: records the source owns), clipped to it, and counts the bits it covers (not the
   * record: see the module comment). The tracker's records go straight here: clamping them first
   * to the units that overlap the clip range cost its per-run reports 4% (A/B under the lock).
   * @returns the units written (b - a)
   */
  recordSpan(a: number, b: number): number {
    const n = b - a;
    if (a < this.inLo) this.#edge(a++);
    if (b > this.inHi && b - 1 >= a) this.#edge(--b);
    if (a < b) {
      const bm = this.#bitmap!;
      bm.setUnits(a, b - a, this.#shift);
      const per = this.#bitsPerUnit;
      this.bitsMarked += per !== 0 ? (b - a) * per : bm.bitOfUnit(b - 1, this.#shift) - bm.bitOfUnit(a, this.#shift) + 1;
    }
    return n;
  }

  /** One unit that sticks out of the clip range: the exact clipped bytes. */
  #edge(unit: number): void {
    const s = BigInt(this.#shift);
    const a = BigInt(unit) << s;
    const lo = a > this.#clipLo ? a : this.#clipLo;
    const end = a + (1n << s);
    const hi = end < this.#clipHi ? end : this.#clipHi;
    const bm = this.#bitmap!;
    bm.set(lo, hi - lo);
    const p = BigInt(bm.pageShift);
    this.bitsMarked += Number(((hi - 1n - bm.iova) >> p) - ((lo - bm.iova) >> p)) + 1;
  }
}
