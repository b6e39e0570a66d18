/**
 * Small reads and comparisons of bitmaps shared by the tests: the first differing byte, the set
 * bits, the dirty 4 KiB pages, an empty twin, the set bits a summary misses.
 */
import { IovaBitmap } from '@iovabitmap/core';
import { bitmapViews } from '@iovabitmap/core/internal';

/** Index of the first byte where `a` and `b` differ, or -1 (vitest's deep equality is slow on MiBs). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(a, b) === 0) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** The set bits of a bitmap, relative to its bit 0. */
export function bitsOf(bm: IovaBitmap): Set<number> {
  const out = new Set<number>();
  const shift = BigInt(bm.pageShift);
  for (const r of bm.dirtyRanges()) {
    const s = Number((r.iova - bm.iova) >> shift);
    for (let b = s; b < s + Number(r.length >> shift); b++) out.add(b);
  }
  return out;
}

/** The 4 KiB pages (IOVA >> 12) whose bits are set in a bitmap of 4 KiB pages. */
export function pagesOf(bm: IovaBitmap): Set<number> {
  if (bm.pageSize !== 4096n) throw new Error(`pagesOf: a bitmap of 4 KiB pages, not ${bm.pageSize}`);
  const base = Number(bm.iova >> 12n);
  return new Set([...bitsOf(bm)].map((b) => b + base));
}

/** A fresh, empty bitmap with the geometry of `b` (iova, length, page size, window pages). */
export function twin(b: IovaBitmap): IovaBitmap {
  return new IovaBitmap({ iova: b.iova, length: b.length, pageSize: b.pageSize, windowPages: b.windowPages });
}

/**
 * Set bits of `bm` whose summary block is not marked (core's bitmap/bitSummary.ts: once the
 * writers have stopped this must be 0), read bit by bit from the bytes, not through the bitmap's
 * readers. 0 for a bitmap without a summary.
 */
export function uncoveredBits(bm: IovaBitmap): number {
  const { bitBase, summary } = bitmapViews(bm);
  if (summary === undefined) return 0;
  const bytes = new Uint8Array(bm.buffer, bm.byteOffset, bm.byteLength);
  let n = 0;
  for (let k = 0; k < bm.nbits; k++) {
    if (((bytes[k >> 3]! >> (k & 7)) & 1) === 0) continue;
    const block = Math.floor((bitBase + k) / 32) >>> summary.shift;
    if (((summary.bits[block >>> 5]! >>> (block & 31)) & 1) === 0) n++;
  }
  return n;
}

/** Set bits of `bm`, counted bit by bit from its bytes (not through its summary). */
export function countInBytes(bm: IovaBitmap): number {
  const bytes = new Uint8Array(bm.buffer, bm.byteOffset, bm.byteLength);
  let n = 0;
  for (let k = 0; k < bm.nbits; k++) n += (bytes[k >> 3]! >> (k & 7)) & 1;
  return n;
}
