/**
 * IovaBitmap: the API on small hand-worked examples, and every rejected input.
 *
 * Every error case checks the code, the parameter, that the message names the bad value, and that
 * the caller's buffer is byte-for-byte unchanged afterwards (a rejected call writes nothing).
 * Expected values are worked out from the spec (bit k = page k from iova, bit k % 8 of byte
 * byteOffset + floor(k / 8)), not read back from the implementation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IovaBitmap, IovaBitmapError, type IovaBitmapErrorData, type IovaBitmapOptions } from '@iovabitmap/core';
import { bitmapViews } from '@iovabitmap/core/internal';
import { fillRandom } from './helpers/bitModel.js';
import { GIB, KIB } from '../helpers/sizes.js';
import { rejection } from '../helpers/rejection.js';

const U64_MAX = 2n ** 64n - 1n;

/** A buffer full of random bytes, and a copy to compare against. */
function guarded(bytes: number, seed = 7): { buffer: SharedArrayBuffer; before: Uint8Array } {
  const buffer = new SharedArrayBuffer(bytes);
  fillRandom(new Uint8Array(buffer), seed);
  return { buffer, before: new Uint8Array(buffer).slice() };
}

describe('IovaBitmap construction', () => {
  it('derives nbits, byteLength and pageShift from iova, length and pageSize', () => {
    const b = new IovaBitmap({ iova: 1n << 40n, length: 100 * 4096, pageSize: 4096 });
    expect(b.iova).toBe(1n << 40n);
    expect(b.length).toBe(409600n);
    expect(b.pageSize).toBe(4096n);
    expect(b.pageShift).toBe(12);
    expect(b.nbits).toBe(100);
    expect(b.byteLength).toBe(13);
    expect(b.end).toBe((1n << 40n) + 409600n);
  });

  it('accepts numbers and bigints alike', () => {
    const a = new IovaBitmap({ iova: 8192, length: 65536, pageSize: 4096 });
    const b = new IovaBitmap({ iova: 8192n, length: 65536n, pageSize: 4096n });
    expect([a.iova, a.length, a.pageSize, a.nbits]).toEqual([b.iova, b.length, b.pageSize, b.nbits]);
  });

  it('allocates a zeroed SharedArrayBuffer of exactly bytesFor(length, pageSize) bytes when none is given', () => {
    const b = new IovaBitmap({ iova: 0, length: 77 * 512, pageSize: 512 });
    expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(b.buffer.byteLength).toBe(IovaBitmap.bytesFor(77 * 512, 512));
    expect(b.buffer.byteLength).toBe(10);
    expect(b.byteOffset).toBe(0);
    expect([...new Uint8Array(b.buffer)].every((x) => x === 0)).toBe(true);
  });

  it('does not write to a caller-supplied buffer', () => {
    const { buffer, before } = guarded(4096 + 100);
    new IovaBitmap({ iova: 0, length: 800 * 4096, pageSize: 4096, buffer, byteOffset: 0xff1 });
    expect(new Uint8Array(buffer)).toEqual(before);
  });

  it('covers the top of the 64-bit space exactly (iova + length - 1 = 2^64 - 1)', () => {
    const b = new IovaBitmap({ iova: U64_MAX + 1n - 16n * 4096n, length: 16 * 4096, pageSize: 4096 });
    b.set(U64_MAX, 1);
    expect(b.testBit(15)).toBe(true);
    expect(b.count()).toBe(1);
    expect([...b.dirtyRanges()]).toEqual([{ iova: U64_MAX + 1n - 4096n, length: 4096n }]);
  });

  it('accepts every power-of-two page size from 1 to 2^63', () => {
    for (let s = 0; s <= 63; s++) {
      const pageSize = 1n << BigInt(s);
      const b = new IovaBitmap({ iova: 0n, length: pageSize, pageSize });
      expect(b.nbits).toBe(1);
      expect(b.pageShift).toBe(s);
    }
  });

  it('works over a plain ArrayBuffer on one thread', () => {
    const buffer = new ArrayBuffer(16);
    const b = new IovaBitmap({ iova: 0, length: 100, pageSize: 1, buffer, byteOffset: 3 });
    b.setBits(0, 9);
    expect([...new Uint8Array(buffer, 3, 2)]).toEqual([0xff, 0x01]);
  });
});

describe('IovaBitmap.bytesFor', () => {
  it('is ceil(length / pageSize / 8)', () => {
    expect(IovaBitmap.bytesFor(1, 1)).toBe(1);
    expect(IovaBitmap.bytesFor(8, 1)).toBe(1);
    expect(IovaBitmap.bytesFor(9, 1)).toBe(2);
    expect(IovaBitmap.bytesFor(8 * 4096, 4096)).toBe(1);
    expect(IovaBitmap.bytesFor(9 * 4096, 4096)).toBe(2);
    expect(IovaBitmap.bytesFor(2n ** 63n, 2n ** 63n)).toBe(1);
  });

  it('gives 32 MiB of bitmap per TiB of IOVA at 4 KiB pages, and 2 MiB per 64 GiB', () => {
    expect(IovaBitmap.bytesFor(2n ** 40n, 4096)).toBe(32 * 2 ** 20);
    expect(IovaBitmap.bytesFor(64 * GIB, 4096)).toBe(2 * 2 ** 20);
  });

  it('rejects what the constructor rejects', () => {
    expect(rejection(() => IovaBitmap.bytesFor(0, 4096)).code).toBe('EINVAL');
    expect(rejection(() => IovaBitmap.bytesFor(4097, 4096)).param).toBe('length');
    expect(rejection(() => IovaBitmap.bytesFor(4096, 3)).param).toBe('pageSize');
  });
});

interface BadCase {
  name: string;
  options: (buffer: SharedArrayBuffer) => IovaBitmapOptions;
  code: string;
  param: string;
  /** Text the message must contain (the bad value as rendered). */
  shows: string;
}

const BAD: BadCase[] = [
  { name: 'length 0', options: () => ({ iova: 0, length: 0, pageSize: 4096 }), code: 'EINVAL', param: 'length', shows: '0' },
  { name: 'length 0n', options: () => ({ iova: 4096n, length: 0n, pageSize: 4096n }), code: 'EINVAL', param: 'length', shows: '0' },
  {
    name: 'iova + length - 1 past 2^64 - 1',
    options: () => ({ iova: 2n ** 64n - 4096n, length: 8192, pageSize: 4096 }),
    code: 'EOVERFLOW',
    param: 'length',
    shows: '8192',
  },
  {
    name: 'iova + length - 1 past 2^64 - 1 by one byte at page size 1',
    options: () => ({ iova: 2n, length: U64_MAX, pageSize: 1 }),
    code: 'EOVERFLOW',
    param: 'length',
    shows: U64_MAX.toString(),
  },
  { name: 'iova not aligned to pageSize', options: () => ({ iova: 4097, length: 4096, pageSize: 4096 }), code: 'EINVAL', param: 'iova', shows: '4097' },
  {
    name: 'iova not aligned to pageSize 2^63',
    options: () => ({ iova: 2n ** 62n, length: 2n ** 63n, pageSize: 2n ** 63n }),
    code: 'EINVAL',
    param: 'iova',
    shows: (2n ** 62n).toString(),
  },
  { name: 'length not aligned to pageSize', options: () => ({ iova: 0, length: 6000, pageSize: 4096 }), code: 'EINVAL', param: 'length', shows: '6000' },
  { name: 'pageSize 0', options: () => ({ iova: 0, length: 4096, pageSize: 0 }), code: 'EINVAL', param: 'pageSize', shows: '0' },
  { name: 'pageSize 3', options: () => ({ iova: 0, length: 3, pageSize: 3 }), code: 'EINVAL', param: 'pageSize', shows: '3' },
  { name: 'pageSize 4095', options: () => ({ iova: 0, length: 4095, pageSize: 4095 }), code: 'EINVAL', param: 'pageSize', shows: '4095' },
  {
    name: 'pageSize 2^63 + 2^62 (not a power of two)',
    options: () => ({ iova: 0n, length: 3n << 62n, pageSize: 3n << 62n }),
    code: 'EINVAL',
    param: 'pageSize',
    shows: (3n << 62n).toString(),
  },
  { name: 'pageSize 2^64', options: () => ({ iova: 0n, length: 1n, pageSize: 2n ** 64n }), code: 'EOVERFLOW', param: 'pageSize', shows: (2n ** 64n).toString() },
  { name: 'negative iova', options: () => ({ iova: -4096, length: 4096, pageSize: 4096 }), code: 'EINVAL', param: 'iova', shows: '-4096' },
  { name: 'negative bigint length', options: () => ({ iova: 0n, length: -1n, pageSize: 1n }), code: 'EINVAL', param: 'length', shows: '-1' },
  { name: 'iova 2^64 as a bigint', options: () => ({ iova: 2n ** 64n, length: 1, pageSize: 1 }), code: 'EOVERFLOW', param: 'iova', shows: (2n ** 64n).toString() },
  {
    name: 'iova above 2^53 - 1 as a number',
    options: () => ({ iova: 2 ** 53, length: 4096, pageSize: 4096 }),
    code: 'EINVAL',
    param: 'iova',
    shows: '9007199254740992',
  },
  { name: 'length 2^60 as a number', options: () => ({ iova: 0, length: 2 ** 60, pageSize: 4096 }), code: 'EINVAL', param: 'length', shows: String(2 ** 60) },
  { name: 'pageSize 2^62 as a number', options: () => ({ iova: 0, length: 4096, pageSize: 2 ** 62 }), code: 'EINVAL', param: 'pageSize', shows: String(2 ** 62) },
  { name: 'fractional iova', options: () => ({ iova: 1.5, length: 4096, pageSize: 1 }), code: 'EINVAL', param: 'iova', shows: '1.5' },
  { name: 'NaN length', options: () => ({ iova: 0, length: Number.NaN, pageSize: 1 }), code: 'EINVAL', param: 'length', shows: 'NaN' },
  { name: 'string iova', options: () => ({ iova: '4096' as unknown as number, length: 4096, pageSize: 4096 }), code: 'EINVAL', param: 'iova', shows: '"4096"' },
  {
    name: 'more than MAX_BITMAP_BITS (2^37 - 32) bits',
    options: () => ({ iova: 0n, length: 2n ** 49n, pageSize: 1n }),
    code: 'E2BIG',
    param: 'length',
    shows: (2n ** 49n).toString(),
  },
  {
    name: 'buffer too small (one byte short)',
    options: (buffer) => ({ iova: 0, length: 8 * (buffer.byteLength + 1), pageSize: 1, buffer }),
    code: 'EINVAL',
    param: 'buffer',
    shows: 'SharedArrayBuffer(',
  },
  {
    name: 'buffer too small at its byteOffset',
    options: (buffer) => ({ iova: 0, length: 8 * (buffer.byteLength - 0xff1 + 1), pageSize: 1, buffer, byteOffset: 0xff1 }),
    code: 'EINVAL',
    param: 'buffer',
    shows: 'SharedArrayBuffer(',
  },
  {
    name: 'byteOffset at the end of the buffer',
    options: (buffer) => ({ iova: 0, length: 1, pageSize: 1, buffer, byteOffset: buffer.byteLength }),
    code: 'EINVAL',
    param: 'byteOffset',
    shows: '8192',
  },
  { name: 'negative byteOffset', options: (buffer) => ({ iova: 0, length: 1, pageSize: 1, buffer, byteOffset: -1 }), code: 'EINVAL', param: 'byteOffset', shows: '-1' },
  { name: 'fractional byteOffset', options: (buffer) => ({ iova: 0, length: 1, pageSize: 1, buffer, byteOffset: 2.5 }), code: 'EINVAL', param: 'byteOffset', shows: '2.5' },
  { name: 'byteOffset without a buffer', options: () => ({ iova: 0, length: 1, pageSize: 1, byteOffset: 16 }), code: 'EINVAL', param: 'byteOffset', shows: '16' },
  {
    name: 'buffer that is a typed array',
    options: () => ({ iova: 0, length: 1, pageSize: 1, buffer: new Uint8Array(8) as unknown as SharedArrayBuffer }),
    code: 'EINVAL',
    param: 'buffer',
    shows: 'Uint8Array(8)',
  },
  { name: 'windowPages 0', options: () => ({ iova: 0, length: 1, pageSize: 1, windowPages: 0 }), code: 'EINVAL', param: 'windowPages', shows: '0' },
  { name: 'windowPages 1.5', options: () => ({ iova: 0, length: 1, pageSize: 1, windowPages: 1.5 }), code: 'EINVAL', param: 'windowPages', shows: '1.5' },
  { name: 'options null', options: () => null as unknown as IovaBitmapOptions, code: 'EINVAL', param: 'options', shows: 'null' },
];

describe('IovaBitmap rejects bad geometry with a typed error and writes nothing', () => {
  it.each(BAD)('$name -> $code on $param', (c) => {
    const { buffer, before } = guarded(8192);
    const e = rejection(() => new IovaBitmap(c.options(buffer)));
    expect(e.code).toBe(c.code);
    expect(e.param).toBe(c.param);
    expect(e.message).toContain(c.param);
    expect(e.message).toContain(c.shows);
    expect(e.value).toContain(c.shows);
    expect(e.name).toBe('IovaBitmapError');
    expect(new Uint8Array(buffer)).toEqual(before);
  });

  it('renders values in decimal and hex, negative ones in decimal only', () => {
    expect(rejection(() => new IovaBitmap({ iova: 0, length: 4096, pageSize: 4095n })).value).toBe('4095 (0xfff)');
    const neg = rejection(() => new IovaBitmap({ iova: -4096n, length: 4096, pageSize: 4096 }));
    expect(neg.value).toBe('-4096');
    expect(neg.message).not.toContain('0x-');
  });

  it('tells the caller to pass a bigint for numbers above 2^53 - 1', () => {
    const e = rejection(() => new IovaBitmap({ iova: 2 ** 53 + 2, length: 1, pageSize: 1 }));
    expect(e.message).toMatch(/bigint/);
  });
});

describe('set, test, testBit, count, countBits, clear, dirtyRanges', () => {
  const P = 4096n;
  const base = 1n << 44n;
  const make = () => new IovaBitmap({ iova: base, length: 100n * P, pageSize: P });

  it('set() of one byte marks its page', () => {
    const b = make();
    b.set(base + 5n * P + 17n, 1);
    expect(b.testBit(5)).toBe(true);
    expect(b.count()).toBe(1);
  });

  it('set() of a range that straddles two pages marks both', () => {
    const b = make();
    b.set(base + 3n * P - 1n, 2);
    expect([b.testBit(2), b.testBit(3), b.count()]).toEqual([true, true, 2]);
  });

  it('set() with a page-unaligned length marks every touched page', () => {
    const b = make();
    b.set(base + 10n * P + 1n, 2n * P);
    expect([10, 11, 12].map((k) => b.testBit(k))).toEqual([true, true, true]);
    expect(b.count()).toBe(3);
  });

  it('set() of length 0 marks nothing', () => {
    const b = make();
    b.set(base + 4n * P, 0);
    expect(b.count()).toBe(0);
  });

  it('set() clips at both ends of the range and drops what is wholly outside', () => {
    const b = make();
    b.set(base - 10n * P, 12n * P); // pages -10..1: only 0 and 1 exist
    b.set(base + 98n * P, 10n * P); // pages 98..107: only 98 and 99 exist
    b.set(0, base); // wholly below
    b.set(base + 100n * P, P); // at the end
    b.set(U64_MAX, 1); // far above
    expect([...b.dirtyRanges()]).toEqual([
      { iova: base, length: 2n * P },
      { iova: base + 98n * P, length: 2n * P },
    ]);
  });

  it('test() answers per page and is false outside the range', () => {
    const b = make();
    b.set(base + 7n * P, P);
    expect(b.test(base + 7n * P)).toBe(true);
    expect(b.test(base + 8n * P - 1n)).toBe(true);
    expect(b.test(base + 8n * P)).toBe(false);
    expect(b.test(base - 1n)).toBe(false);
    expect(b.test(base + 100n * P)).toBe(false);
    expect(b.test(U64_MAX)).toBe(false);
  });

  it('testBit() is false outside [0, nbits)', () => {
    const b = make();
    b.setBits(0, 100);
    expect([b.testBit(-1), b.testBit(0), b.testBit(99), b.testBit(100)]).toEqual([false, true, true, false]);
  });

  it('setBits() clips to [0, nbits) and count <= 0 sets nothing', () => {
    const b = make();
    b.setBits(-5, 7); // bits 0, 1
    b.setBits(98, 50); // bits 98, 99
    b.setBits(50, 0);
    b.setBits(60, -3);
    expect(b.count()).toBe(4);
    expect([b.testBit(0), b.testBit(1), b.testBit(2), b.testBit(98), b.testBit(99)]).toEqual([true, true, false, true, true]);
  });

  it('countBits() counts a clipped sub-range', () => {
    const b = make();
    b.setBits(10, 20); // 10..29
    expect(b.countBits(0, 100)).toBe(20);
    expect(b.countBits(15, 5)).toBe(5);
    expect(b.countBits(-10, 25)).toBe(5);
    expect(b.countBits(25, 1000)).toBe(5);
    expect(b.countBits(40, 10)).toBe(0);
  });

  it('clear() clears every bit', () => {
    const b = make();
    b.setBits(0, 100);
    b.clear();
    expect(b.count()).toBe(0);
    expect([...b.dirtyRanges()]).toEqual([]);
  });

  it('dirtyRanges() yields maximal runs in increasing order', () => {
    const b = make();
    b.setBits(31, 2); // 31, 32: across a 32-bit word edge
    b.setBits(40, 1);
    b.setBits(41, 1); // 40, 41 merge
    b.setBits(99, 1);
    expect([...b.dirtyRanges()]).toEqual([
      { iova: base + 31n * P, length: 2n * P },
      { iova: base + 40n * P, length: 2n * P },
      { iova: base + 99n * P, length: P },
    ]);
  });

  it('orMask() sets bit firstBit + j for each bit j of the mask, dropping those outside', () => {
    const b = make();
    b.orMask(-1, 0b111); // bits -1, 0, 1 -> 0, 1
    b.orMask(70, 0x80000001); // bits 70 and 101 -> 70
    b.orMask(97, -1); // 97..128 -> 97, 98, 99
    expect([...b.dirtyRanges()].map((r) => Number((r.iova - base) / P))).toEqual([0, 70, 97]);
    expect(b.count()).toBe(6);
  });

  it('setUnits() sets IOVA [unit * 2^s, (unit + count) * 2^s) in any unit', () => {
    const b = make();
    b.setUnits(Number((base >> 12n) + 5n), 2, 12); // pages 5, 6
    b.setUnits(Number((base >> 21n)) + 0, 1, 21); // 2 MiB unit at base: pages 0..99 (clipped)
    expect(b.count()).toBe(100);
    const c = make();
    c.setUnits(Number((base + 10n * P) / 512n) + 3, 1, 9); // 512-byte unit inside page 10
    c.setUnits(Number((base + 20n * P) / 512n) + 7, 2, 9); // straddles pages 20 and 21
    expect([...c.dirtyRanges()].map((r) => [Number((r.iova - base) / P), Number(r.length / P)])).toEqual([
      [10, 1],
      [20, 2],
    ]);
  });

  it('setUnits() stays exact when a unit holds more than 2^53 pages (regression: the remainder was rounded)', () => {
    // iova = 2^60 - 8 at 1-byte pages; the 2^60-byte unit 0 ends 8 bytes after iova.
    const b = new IovaBitmap({ iova: 2n ** 60n - 8n, length: 16, pageSize: 1 });
    b.setUnits(0, 1, 60);
    expect([...b.dirtyRanges()]).toEqual([{ iova: 2n ** 60n - 8n, length: 8n }]);
    b.clear();
    b.setUnits(1, 1, 60); // the next unit starts at bit 8
    expect([...b.dirtyRanges()]).toEqual([{ iova: 2n ** 60n, length: 8n }]);
    expect(b.bitOfUnit(1, 60)).toBe(8);
    expect(b.bitOfUnit(0, 60)).toBe(-(2 ** 60)); // -(2^60 - 8), rounded: not a safe number
    const top = new IovaBitmap({ iova: 2n ** 63n, length: 64, pageSize: 1 });
    expect(top.bitOfUnit(2 ** 53 - 1, 10)).toBe(Number((((2n ** 53n - 1n) << 10n) - 2n ** 63n))); // iova >> 10 is 2^53: bigint path
  });

  it('setUnits() with an end past 2^64 clips it like any part outside the range', () => {
    const b = new IovaBitmap({ iova: 2n ** 64n - 4n * 4096n, length: 4n * 4096n, pageSize: 4096 });
    b.setUnits(1, 3, 63); // IOVA [2^63, 2^65)
    expect(b.count()).toBe(4);
  });

  it('bitOfUnit() is the bit of the page holding unit * 2^s', () => {
    const b = make();
    expect(b.bitOfUnit(Number(base >> 12n) + 7, 12)).toBe(7);
    expect(b.bitOfUnit(Number(base >> 12n) - 2, 12)).toBe(-2);
    expect(b.bitOfUnit(Number((base + 3n * P + 100n) / 4n), 2)).toBe(3);
    expect(b.bitOfUnit(Number(base >> 21n) + 1, 21)).toBe(512);
  });

  it('snapshot() copies the bits and zeroes the unused bits of the last byte; equals() compares bits and geometry', () => {
    const buffer = new SharedArrayBuffer(8);
    new Uint8Array(buffer).fill(0xff);
    new Uint8Array(buffer)[3] = 0xe0; // bits 0..4 of the bitmap clear, high 3 bits junk
    const b = new IovaBitmap({ iova: 0, length: 5, pageSize: 1, buffer, byteOffset: 3 });
    expect([...b.snapshot()]).toEqual([0]);
    b.setBits(1, 1);
    expect([...b.snapshot()]).toEqual([2]);
    const c = new IovaBitmap({ iova: 0, length: 5, pageSize: 1 });
    expect(b.equals(c)).toBe(false);
    c.setBits(1, 1);
    expect(b.equals(c)).toBe(true);
    const d = new IovaBitmap({ iova: 1, length: 5, pageSize: 1 });
    d.setBits(1, 1);
    expect(b.equals(d)).toBe(false);
  });
});

describe('setters and readers reject what is not an index, and write nothing', () => {
  const setup = () => {
    const { buffer, before } = guarded(64, 99);
    for (let i = 5; i < 9; i++) new Uint8Array(buffer)[i] = 0; // bitmap bytes (nbits = 29 -> 4 bytes) at offset 5
    new Uint8Array(buffer)[8] = before[8]! & 0xe0;
    const snap = new Uint8Array(buffer).slice();
    const b = new IovaBitmap({ iova: 0, length: 29, pageSize: 1, buffer, byteOffset: 5 });
    return { b, buffer, snap };
  };
  const cases: [string, (b: IovaBitmap) => unknown, string, string][] = [
    ['set(-1, 1)', (b) => b.set(-1, 1), 'EINVAL', 'iova'],
    ['set(2^64, 1)', (b) => b.set(2n ** 64n, 1), 'EOVERFLOW', 'iova'],
    ['set(0, 2^53)', (b) => b.set(0, 2 ** 53), 'EINVAL', 'length'],
    ['set(0, -1n)', (b) => b.set(0, -1n), 'EINVAL', 'length'],
    ['test(-1)', (b) => b.test(-1), 'EINVAL', 'iova'],
    ['setBits(NaN, 5)', (b) => b.setBits(Number.NaN, 5), 'EINVAL', 'firstBit'],
    ['setBits(0, NaN)', (b) => b.setBits(0, Number.NaN), 'EINVAL', 'count'],
    ['setBits(0.5, 3)', (b) => b.setBits(0.5, 3), 'EINVAL', 'firstBit'],
    ['setBits(0, Infinity)', (b) => b.setBits(0, Number.POSITIVE_INFINITY), 'EINVAL', 'count'],
    ['orMask(NaN, -1)', (b) => b.orMask(Number.NaN, -1), 'EINVAL', 'firstBit'],
    ['orMask(-0.5, -1)', (b) => b.orMask(-0.5, -1), 'EINVAL', 'firstBit'],
    ['setUnits(NaN, 1, 0)', (b) => b.setUnits(Number.NaN, 1, 0), 'EINVAL', 'unit'],
    ['setUnits(-1, 3, 0)', (b) => b.setUnits(-1, 3, 0), 'EINVAL', 'unit'],
    ['setUnits(0, 2^53, 0)', (b) => b.setUnits(0, 2 ** 53, 0), 'EINVAL', 'count'],
    ['setUnits(0, 1, 64)', (b) => b.setUnits(0, 1, 64), 'EINVAL', 'unitShift'],
    ['setUnits(0, 1, -1)', (b) => b.setUnits(0, 1, -1), 'EINVAL', 'unitShift'],
    ['setUnits(0, 1, 1.5)', (b) => b.setUnits(0, 1, 1.5), 'EINVAL', 'unitShift'],
    ['bitOfUnit(0, 99)', (b) => b.bitOfUnit(0, 99), 'EINVAL', 'unitShift'],
    ['countBits(NaN, 5)', (b) => b.countBits(Number.NaN, 5), 'EINVAL', 'firstBit'],
    ['countBits(0, NaN)', (b) => b.countBits(0, Number.NaN), 'EINVAL', 'bitCount'],
  ];
  it.each(cases)('%s -> %s on %s', (_name, call, code, param) => {
    const { b, buffer, snap } = setup();
    const e = rejection(() => call(b));
    expect(e.code).toBe(code);
    expect(e.param).toBe(param);
    expect(e.message).toContain(param);
    expect(new Uint8Array(buffer)).toEqual(snap);
  });
});

describe('share() and fromShared()', () => {
  it('rebuild a view of the same memory from a structured clone of the descriptor', () => {
    const buffer = new SharedArrayBuffer(4096 + 64);
    const a = new IovaBitmap({ iova: 2n ** 63n, length: 300n * 4096n, pageSize: 4096, buffer, byteOffset: 4093, windowPages: 3 });
    const d = structuredClone(a.share());
    expect(d.buffer).toBeInstanceOf(SharedArrayBuffer);
    const b = IovaBitmap.fromShared(d);
    expect([b.iova, b.length, b.pageSize, b.byteOffset, b.windowPages]).toEqual([a.iova, a.length, a.pageSize, 4093, 3]);
    b.set(2n ** 63n + 123n * 4096n, 1);
    expect(a.testBit(123)).toBe(true);
    a.setBits(7, 1);
    expect(b.testBit(7)).toBe(true);
    expect(a.equals(b)).toBe(true);
  });

  it('called on a subclass, builds that subclass over the same memory and summary', () => {
    class Counting extends IovaBitmap {
      writes = 0;
      override setBits(firstBit: number, count: number): void {
        this.writes++;
        super.setBits(firstBit, count);
      }
    }
    const a = new IovaBitmap({ iova: 0, length: 1n << 32n, pageSize: 4096, buffer: new SharedArrayBuffer(1 << 17) });
    const b = Counting.fromShared(a.share());
    expect(b).toBeInstanceOf(Counting);
    b.setBits(70_000, 3);
    expect(b.writes).toBe(1);
    // The caller's count() reads its summary: the subclass marked the same one.
    expect(a.count()).toBe(3);
    expect([...a.dirtyRanges()]).toEqual([{ iova: 70_000n * 4096n, length: 3n * 4096n }]);
  });

  it('share() refuses a plain ArrayBuffer', () => {
    const a = new IovaBitmap({ iova: 0, length: 8, pageSize: 1, buffer: new ArrayBuffer(1) });
    const e = rejection(() => a.share());
    expect([e.code, e.param]).toEqual(['EINVAL', 'buffer']);
  });

  it('fromShared() refuses what is not a descriptor, and re-checks the geometry', () => {
    expect(rejection(() => IovaBitmap.fromShared({ kind: 'nope' } as never)).param).toBe('descriptor');
    expect(rejection(() => IovaBitmap.fromShared(null as never)).code).toBe('EINVAL');
    const a = new IovaBitmap({ iova: 0, length: 64, pageSize: 1 });
    const e = rejection(() => IovaBitmap.fromShared({ ...a.share(), length: 65n }));
    expect([e.code, e.param]).toEqual(['EINVAL', 'buffer']);
  });
});

describe('IovaBitmapError as data', () => {
  const original = rejection(() => new IovaBitmap({ iova: 0, length: 4096, pageSize: 3 }));

  it('is() recognises a structured clone of toData(), and fromData() rebuilds the error', () => {
    const data: IovaBitmapErrorData = structuredClone(original.toData());
    expect(data).not.toBeInstanceOf(IovaBitmapError);
    expect(IovaBitmapError.is(data)).toBe(true);
    expect(IovaBitmapError.hasCode(data, 'EINVAL')).toBe(true);
    expect(IovaBitmapError.hasCode(data, 'EOVERFLOW')).toBe(false);
    const back = IovaBitmapError.fromData(data, { worker: 3 });
    expect(back).toBeInstanceOf(IovaBitmapError);
    expect([back.code, back.param, back.value, back.message]).toEqual([original.code, 'pageSize', original.value, original.message]);
    expect(back.details).toEqual({ worker: 3 });
    expect(back.value).toContain('3');
  });

  it('hasCode() is a type guard: after it, the code is the one asked for (checked by the typecheck)', () => {
    const caught: unknown = structuredClone(original.toData());
    if (!IovaBitmapError.hasCode(caught, 'EINVAL')) throw new Error('not EINVAL');
    const code: 'EINVAL' = caught.code; // a compile error unless hasCode narrows `caught`
    expect([code, caught.param]).toEqual(['EINVAL', 'pageSize']);
  });

  it('is() rejects look-alikes that are not iovabitmap errors', () => {
    expect(IovaBitmapError.is(new Error('x'))).toBe(false);
    expect(IovaBitmapError.is({ name: 'IovaBitmapError' })).toBe(false);
    expect(IovaBitmapError.is({ code: 'EINVAL' })).toBe(false);
    expect(IovaBitmapError.is(null)).toBe(false);
    expect(IovaBitmapError.is('IovaBitmapError')).toBe(false);
  });

  it('dataOf() keeps an iovabitmap code and maps anything else to the fallback', () => {
    expect(IovaBitmapError.dataOf(original).code).toBe('EINVAL');
    const other = IovaBitmapError.dataOf(new RangeError('boom'));
    expect([other.code, other.message]).toEqual(['EIO', 'RangeError: boom']);
    expect(IovaBitmapError.dataOf('x', 'ECANCELED').code).toBe('ECANCELED');
  });
});

describe('bigger shapes stay exact', () => {
  it('one bit per 2^63 bytes: the two halves of the 64-bit space', () => {
    const b = new IovaBitmap({ iova: 0n, length: 2n ** 64n - 2n ** 63n, pageSize: 2n ** 63n });
    expect(b.nbits).toBe(1);
    const c = new IovaBitmap({ iova: 2n ** 63n, length: 2n ** 63n, pageSize: 2n ** 63n });
    c.set(U64_MAX, 1);
    expect(c.testBit(0)).toBe(true);
    expect(c.test(2n ** 63n)).toBe(true);
    expect([...c.dirtyRanges()]).toEqual([{ iova: 2n ** 63n, length: 2n ** 63n }]);
  });

  it('a 64 KiB bitmap at page size 1 KiB: an unaligned set covers first and last touched page', () => {
    const b = new IovaBitmap({ iova: 0, length: 64 * KIB * 8 * KIB, pageSize: KIB });
    b.set(KIB * 1000 + 1, KIB * 3000); // bytes 1024001 .. 4096000 -> pages 1000 .. 4000
    expect(b.count()).toBe(3001);
    expect([...b.dirtyRanges()]).toEqual([{ iova: 1000n * 1024n, length: 3001n * 1024n }]);
  });
});

describe('write discipline of the hot paths', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('setBits() of a long run uses Atomics.or only for the partial head and tail words', () => {
    const buffer = new SharedArrayBuffer(4096);
    const b = new IovaBitmap({ iova: 0, length: 8 * 4000, pageSize: 1, buffer, byteOffset: 3 });
    const { views, summary } = bitmapViews(b);
    const or = vi.spyOn(Atomics, 'or');
    const on = (a: Int32Array | undefined) => or.mock.calls.filter((c) => (c[0] as unknown) === a).map((c) => c[1]);
    b.setBits(5, 10_000); // absolute bits 29 .. 10028: head word 0, whole words 1..312, tail word 313
    expect(on(views.words)).toEqual([0, 313]);
    expect(on(summary!.bits)).toEqual([0]); // then one mark per summary word (32 blocks of 16 words), after the data
    expect(b.count()).toBe(10_000); // the whole words in between were stored
    expect(b.countBits(5, 10_000)).toBe(10_000);
    b.clear();
    or.mockClear();
    b.setBits(27, 32 * 5); // absolute 51 .. 210: head word 1, whole words 2..5, tail word 6
    expect(on(views.words)).toEqual([1, 6]);
    expect(on(summary!.bits)).toEqual([0]);
    or.mockClear();
    b.setBits(29, 64); // absolute 53 .. 116: starts and ends inside words 1 and 3
    expect(on(views.words)).toEqual([1, 3]);
    expect(on(summary!.bits)).toEqual([0]);
    expect(b.count()).toBe(160); // bits 27..186; 29..92 lies inside them
  });

  it('a run of whole words is marked after its plain stores, once per call', () => {
    const b = new IovaBitmap({ iova: 0, length: 32 * 64, pageSize: 1 }); // 4 blocks of 16 words
    const { views, summary } = bitmapViews(b);
    const or = vi.spyOn(Atomics, 'or');
    b.setBits(32 * 16, 32 * 16); // exactly block 1
    b.setBits(32 * 16, 32 * 16);
    expect(or.mock.calls.filter((c) => (c[0] as unknown) === views.words)).toEqual([]);
    expect(or.mock.calls.filter((c) => (c[0] as unknown) === summary!.bits).map((c) => [c[1], c[2]])).toEqual([
      [0, 0b10],
      [0, 0b10],
    ]);
  });

  it('orMask() is at most two Atomics.or, and none for an empty mask', () => {
    const b = new IovaBitmap({ iova: 0, length: 256, pageSize: 1 });
    const { views, summary } = bitmapViews(b);
    const or = vi.spyOn(Atomics, 'or');
    const on = (a: Int32Array) => or.mock.calls.filter((c) => (c[0] as unknown) === a).length;
    b.orMask(40, -1);
    expect([on(views.words), on(summary!.bits)]).toEqual([2, 1]); // and one mark of their block
    or.mockClear();
    b.orMask(64, 0x0f0f);
    expect([on(views.words), on(summary!.bits)]).toEqual([1, 1]);
    or.mockClear();
    b.orMask(10, 0);
    expect(or).not.toHaveBeenCalled();
  });
});
