/**
 * The bitmap's views cover only the words that hold its bits, so a bitmap above 4 GiB works and a
 * small bitmap in a huge buffer costs a small view. Regression: both used to throw an untyped
 * `RangeError: Invalid typed array length` (a Uint8Array and an Int32Array over the whole buffer,
 * past V8's 2^32-element cap). SharedArrayBuffer memory is not touched until written, so the big
 * buffers here cost address space, not RAM; every check reads a few words at the ends.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap, MAX_BITMAP_BITS } from '@iovabitmap/core';
import { bitmapViews } from '@iovabitmap/core/internal';
import { fillRandom } from './helpers/bitModel.js';
import { rejection } from '../helpers/rejection.js';
import { GIB } from '../helpers/sizes.js';


/** Random guard bytes in [from, to) of `buffer`, and a check that they are unchanged. */
function guard(buffer: SharedArrayBuffer, from: number, to: number, seed: number): () => void {
  const bytes = new Uint8Array(buffer, from, to - from);
  fillRandom(bytes, seed);
  const before = bytes.slice();
  return () => expect(Buffer.compare(bytes, before)).toBe(0);
}

describe('a bitmap above 4 GiB', () => {
  it('8 GiB of bitmap (2^48 bytes of IOVA at 4 KiB pages): set, test, count, dirtyRanges and clear at both ends; a 16 MiB summary', () => {
    const b = new IovaBitmap({ iova: 0n, length: 1n << 48n, pageSize: 4096n });
    const n = 2 ** 36;
    expect([b.nbits, b.byteLength, bitmapViews(b).bitBase, bitmapViews(b).views.words.length]).toEqual([n, 8 * GIB, 0, 2 ** 31]);
    b.setBits(0, 3);
    b.setBits(n - 5, 5);
    b.set((1n << 48n) - 4096n * 40n, 4096n * 3n); // bits n - 40 .. n - 38
    b.orMask(n - 64, 0b101);
    expect([b.testBit(0), b.testBit(2), b.testBit(3), b.testBit(n - 1), b.testBit(n - 6)]).toEqual([true, true, false, true, false]);
    expect(b.test((1n << 48n) - 1n)).toBe(true);
    expect(b.countBits(0, 64)).toBe(3);
    expect(b.countBits(n - 64, 64)).toBe(2 + 3 + 5);
    expect(b.windows().length).toBe((8 * GIB) / (2 * 2 ** 20));
    b.setBits(n - 64, 64);
    expect(b.countBits(n - 100, 100)).toBe(64);
    // The summary: 1/512 of the bitmap (16 MiB) and a 64-byte header; the readers visit 3 blocks.
    expect(bitmapViews(b).summary!.buffer.byteLength).toBe((8 * GIB) / 512 + 64);
    expect(b.count()).toBe(3 + 64);
    expect([...b.dirtyRanges()].map((r) => r.length / 4096n)).toEqual([3n, 64n]);
    b.clear();
    expect([b.count(), b.testBit(n - 1)]).toEqual([0, false]);
  });

  it('more than MAX_BITMAP_BITS (16 GiB of bitmap less one word) is E2BIG, before anything is allocated', () => {
    expect(MAX_BITMAP_BITS).toBe(2 ** 37 - 32);
    const e = rejection(() => new IovaBitmap({ iova: 0n, length: BigInt(MAX_BITMAP_BITS + 1), pageSize: 1n }));
    expect([e.code, e.param]).toEqual(['E2BIG', 'length']);
    expect(rejection(() => IovaBitmap.bytesFor(1n << 49n, 4096n)).code).toBe('E2BIG');
  });

  it('MAX_BITMAP_BITS bits at byteOffset 3 still fit one Int32Array (2^32 words)', () => {
    let buffer: SharedArrayBuffer;
    try {
      buffer = new SharedArrayBuffer(16 * GIB + 4);
    } catch {
      return; // a host that cannot map 16 GiB of address space; the arithmetic is checked above
    }
    const b = new IovaBitmap({ iova: 0n, length: BigInt(MAX_BITMAP_BITS), pageSize: 1n, buffer, byteOffset: 3 });
    expect([bitmapViews(b).bitBase, bitmapViews(b).views.words.length]).toEqual([24, 2 ** 32]);
    b.setBits(MAX_BITMAP_BITS - 1, 1);
    expect(b.testBit(MAX_BITMAP_BITS - 1)).toBe(true);
    expect(new Uint8Array(buffer, 16 * GIB - 2, 4)).toEqual(new Uint8Array([1 << 7, 0, 0, 0])); // the last bitmap byte ends 2 bytes short of 16 GiB
  });
});

describe('a small bitmap in a huge buffer', () => {
  const big = new SharedArrayBuffer(4 * GIB + 8);

  it('32 bytes at offset 0 of a 4 GiB + 8-byte SharedArrayBuffer: set, test, count, clear; guards untouched', () => {
    const after = guard(big, 32, 4096, 1);
    const end = guard(big, 4 * GIB - 4088, 4 * GIB + 8, 2);
    const b = new IovaBitmap({ iova: 0, length: 256 * 4096, pageSize: 4096, buffer: big });
    expect(bitmapViews(b).views.words.length).toBe(8);
    b.setBits(0, 256);
    b.orMask(250, -1);
    expect([b.count(), b.testBit(255), b.test(255 * 4096)]).toEqual([256, true, true]);
    expect([...b.dirtyRanges()]).toEqual([{ iova: 0n, length: 256n * 4096n }]);
    b.clear();
    b.set(4096 * 7 + 1, 4096);
    expect([b.count(), b.countBits(7, 2)]).toEqual([2, 2]);
    after();
    end();
  });

  it('a bitmap ending in the partial tail word of a 4 GiB + 7-byte buffer, at an unaligned offset', () => {
    const buffer = new SharedArrayBuffer(4 * GIB + 7);
    const byteOffset = 4 * GIB - 15; // 20 bytes: 19 in whole words, the last one in the 3-byte tail, 2 guard bytes after
    const before = guard(buffer, byteOffset - 64, byteOffset, 3);
    const tailGuard = new Uint8Array(buffer, byteOffset + 20, 2);
    tailGuard.set([0xa5, 0x5a]);
    const b = new IovaBitmap({ iova: 0, length: 160 - 3, pageSize: 1, buffer, byteOffset });
    expect([bitmapViews(b).bitBase, bitmapViews(b).views.words.length, bitmapViews(b).views.tail.length]).toEqual([8, 5, 3]);
    b.setBits(-5, 200);
    expect(b.count()).toBe(157);
    expect(new Uint8Array(buffer, byteOffset + 19, 3)).toEqual(new Uint8Array([0x1f, 0xa5, 0x5a])); // 5 of the last byte's bits
    b.clear();
    expect(b.count()).toBe(0);
    expect(new Uint8Array(buffer, byteOffset + 19, 3)).toEqual(new Uint8Array([0, 0xa5, 0x5a]));
    before();
  });

  it('views start on the buffer word holding the first byte; windows keep the absolute byteOffset', () => {
    const b = new IovaBitmap({ iova: 0, length: 8 * 8192, pageSize: 1, buffer: big, byteOffset: 0xff1 });
    expect([bitmapViews(b).bitBase, bitmapViews(b).views.words.byteOffset, bitmapViews(b).views.words.length]).toEqual([8, 0xff0, 2049]);
    expect(b.windows()[0]!.byteOffset).toBe(0xff1);
    b.setBits(0, 1);
    expect(new Uint8Array(big, 0xff1, 1)[0]! & 1).toBe(1);
    b.clear();
  });
});
