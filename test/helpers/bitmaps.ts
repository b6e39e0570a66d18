/**
 * Small comparisons of bitmaps shared by the engine tests.
 */
import { IovaBitmap } from '@iovabitmap/core';

/** Index of the first byte where `a` and `b` differ, or -1 (vitest's deep equality is slow on MiBs). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(a, b) === 0) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** A fresh, empty bitmap with the geometry of `b` (iova, length, page size, window pages). */
export function twin(b: IovaBitmap): IovaBitmap {
  return new IovaBitmap({ iova: b.iova, length: b.length, pageSize: b.pageSize, windowPages: b.windowPages });
}
