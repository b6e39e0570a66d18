/**
 * RacyIovaBitmap: a deliberately broken bitmap for the negative controls of the stress suite.
 *
 * Every way of setting bits (`set`, `setBits`, `setUnits`, `orMask`) goes through one run writer
 * that races in one of two places ({@link RacyIovaBitmap.races}):
 * - `data` (the default): a plain read-modify-write of each data word, `words[w] = words[w] | mask`,
 *   with a short busy loop between the read and the write to widen the window in which another
 *   thread's update of the same word is overwritten; the summary is then marked as the real
 *   writers mark it, so only the data words race. This is the bug the real bitmap's Atomics.or
 *   exists to prevent (../../../packages/core/src/bitmap/bitKernels.ts);
 * - `marks`: the data words by Atomics.or, as the real bitmap writes them, and the summary's words
 *   by the same plain read-modify-write with a busy loop: a lost *mark*, which leaves set bits in
 *   a block the summary calls clear (../../../packages/core/src/bitmap/bitSummary.ts, the
 *   coverage invariant).
 * The negative-control tests prove that the stress harness detects both. Test-only: never export it.
 */
import { IovaBitmap, type U64Like } from '@iovabitmap/core';
import { bitmapViews, markWritten } from '@iovabitmap/core/internal';

let sink = 0;

/** See the module comment. */
export class RacyIovaBitmap extends IovaBitmap {
  /** Busy-loop iterations between the read and the write of each word. */
  spin = 64;
  /** Which words race: the data words, or the summary's (see the module comment). */
  races: 'data' | 'marks' = 'data';

  /** The non-atomic RMW `words[i] |= mask`, its window widened by the busy loop. */
  #racyOr(words: Int32Array, i: number, mask: number): void {
    const old = words[i]!; // read ...
    for (let k = 0; k < this.spin; k++) sink = (sink + k) | 0; // ... widen the window ...
    words[i] = old | mask; // ... write back: a concurrent update of this word is lost.
  }

  /** Marks the summary blocks of absolute bits [p, end) with racy RMWs (`marks`). */
  #racyMarks(p: number, end: number): void {
    const s = bitmapViews(this).summary!;
    const b0 = Math.floor(p / 32) >>> s.shift;
    const b1 = Math.floor((end - 1) / 32) >>> s.shift;
    for (let b = b0; b <= b1; b++) this.#racyOr(s.bits, b >>> 5, 1 << (b & 31));
  }

  /** Sets absolute bits [p, end): by racy RMWs (`data`) or by Atomics.or (`marks`). */
  #run(p: number, end: number): void {
    const words = bitmapViews(this).views.words;
    while (p < end) {
      const w = Math.floor(p / 32);
      const s = p - w * 32;
      const n = Math.min(32 - s, end - p);
      const mask = n === 32 ? -1 : ((1 << n) - 1) << s;
      if (this.races === 'data') this.#racyOr(words, w, mask);
      else Atomics.or(words, w, mask);
      p += n;
    }
  }

  override setBits(firstBit: number, count: number): void {
    const a = Math.max(0, firstBit);
    const b = Math.min(this.nbits, firstBit + count);
    if (a < b) {
      const { bitBase } = bitmapViews(this);
      this.#run(bitBase + a, bitBase + b);
      if (this.races === 'data') markWritten(this, a, b - a); // the summary is kept right: only the data words race
      else this.#racyMarks(bitBase + a, bitBase + b);
    }
  }

  override setUnits(unit: number, count: number, unitShift: number): void {
    const d = unitShift - this.pageShift;
    const first = this.bitOfUnit(unit, unitShift);
    this.setBits(first, d >= 0 ? count * 2 ** d : Math.ceil(count / 2 ** -d) + 1);
  }

  override set(iova: U64Like, length: U64Like): void {
    const x = BigInt(iova);
    const len = BigInt(length);
    if (len === 0n) return;
    const lo = x > this.iova ? x : this.iova;
    const last = x + len - 1n < this.end - 1n ? x + len - 1n : this.end - 1n;
    if (lo > last) return;
    const b0 = Number((lo - this.iova) >> BigInt(this.pageShift));
    const b1 = Number((last - this.iova) >> BigInt(this.pageShift));
    this.setBits(b0, b1 - b0 + 1);
  }

  override orMask(firstBit: number, mask: number): void {
    for (let j = 0; j < 32; j++) if ((mask >>> j) & 1) this.setBits(firstBit + j, 1);
  }
}

/** Keeps the busy loop from being optimised away. */
export function racySink(): number {
  return sink;
}
