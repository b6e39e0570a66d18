/**
 * RacyIovaBitmap: a deliberately broken bitmap for the negative control of the stress suite.
 *
 * Every way of setting bits (`set`, `setBits`, `setUnits`, `orMask`) goes through a plain
 * read-modify-write, `words[w] = words[w] | mask`, with a short busy loop between the read and the
 * write to widen the window in which another thread's update of the same word is overwritten (its
 * summary is marked after, as the real writers do, so only the data words race). This
 * is the bug the real bitmap's Atomics.or exists to prevent
 * (../../../packages/core/src/bitmap/bitKernels.ts); the negative-control test proves that the
 * stress harness detects it. Test-only: never export it.
 */
import { IovaBitmap, type U64Like } from '@iovabitmap/core';
import { bitmapViews, markWritten } from '@iovabitmap/core/internal';

let sink = 0;

/** See the module comment. */
export class RacyIovaBitmap extends IovaBitmap {
  /** Busy-loop iterations between the read and the write of each word. */
  spin = 64;

  /** The non-atomic RMW of absolute bits [p, end). */
  #racyRun(p: number, end: number): void {
    const words = bitmapViews(this).views.words;
    while (p < end) {
      const w = Math.floor(p / 32);
      const s = p - w * 32;
      const n = Math.min(32 - s, end - p);
      const mask = n === 32 ? -1 : ((1 << n) - 1) << s;
      const old = words[w]!; // read ...
      for (let i = 0; i < this.spin; i++) sink = (sink + i) | 0; // ... widen the window ...
      words[w] = old | mask; // ... write back: a concurrent update of this word is lost.
      p += n;
    }
  }

  override setBits(firstBit: number, count: number): void {
    const a = Math.max(0, firstBit);
    const b = Math.min(this.nbits, firstBit + count);
    if (a < b) {
      const { bitBase } = bitmapViews(this);
      this.#racyRun(bitBase + a, bitBase + b);
      markWritten(this, a, b - a); // the summary is kept right: only the data words race
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
