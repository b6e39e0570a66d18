/**
 * An independent model of a bitmap for the stress checkers: one byte per bit, set by a plain loop.
 * Deliberately shares no code with packages/core/src/bitmap/bitKernels.ts, so a bug there cannot
 * hide in the expected value.
 */
import type { IovaBitmap } from '@iovabitmap/core';

/** One byte per bit; see the module comment. */
export class BitModel {
  readonly bits: Uint8Array;

  constructor(readonly nbits: number) {
    this.bits = new Uint8Array(nbits);
  }

  /** Sets bits [first, first + count), clipped to [0, nbits). */
  set(first: number, count: number): void {
    const a = Math.max(0, first);
    const b = Math.min(this.nbits, first + count);
    for (let i = a; i < b; i++) this.bits[i] = 1;
  }

  /** Number of set bits. */
  count(): number {
    let n = 0;
    for (let i = 0; i < this.nbits; i++) n += this.bits[i]!;
    return n;
  }
}

/** Bit i of the bitmap's memory, read byte by byte from its buffer (not through bitKernels). */
export function rawBit(bm: IovaBitmap, i: number): number {
  const bytes = new Uint8Array(bm.buffer, bm.byteOffset, bm.byteLength);
  return (bytes[i >> 3]! >> (i & 7)) & 1;
}

/** What differs between the model (expected) and the bitmap (actual). */
export interface BitDiff {
  /** Bits set in the model, clear in the bitmap: lost updates. */
  readonly lost: number;
  /** Bits clear in the model, set in the bitmap: stray writes. */
  readonly extra: number;
  /** Up to 8 lost bit indices, for the failure message. */
  readonly lostSample: number[];
}

/** Compares the bitmap's bits [0, nbits) with the model. */
export function diffBits(model: BitModel, bm: IovaBitmap): BitDiff {
  const bytes = new Uint8Array(bm.buffer, bm.byteOffset, bm.byteLength);
  let lost = 0;
  let extra = 0;
  const lostSample: number[] = [];
  for (let i = 0; i < model.nbits; i++) {
    const a = (bytes[i >> 3]! >> (i & 7)) & 1;
    const e = model.bits[i]!;
    if (e === 1 && a === 0) {
      lost++;
      if (lostSample.length < 8) lostSample.push(i);
    } else if (e === 0 && a === 1) extra++;
  }
  return { lost, extra, lostSample };
}
