/**
 * Every failing input shape from the kernel's iova_bitmap fix history
 * (docs/design/windowing.md §6), replayed against IovaBitmap, one named test each.
 *
 * Each test puts the bitmap in a buffer of random guard bytes (and random unused bits in its last
 * byte) and compares the whole buffer with the naive model (./helpers/bitModel.ts) afterwards, so
 * a missing dirty bit and a clobbered neighbour both fail. The mock selftest constants are used
 * where the kernel's tests use them: MOCK_PAGE_SIZE 2048, huge page 1 MiB, aperture from 2^24,
 * bitmap offsets 0, +2048 and +0xff1.
 */
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { computeWindows } from '@iovabitmap/core/internal';
import { BitModel, describeMismatch, expectedBuffer, makeArena, modelWindows, type Arena } from './helpers/bitModel.js';
import { GiB, KiB, MiB } from '../helpers/sizes.js';
import { firstDiff } from '../helpers/bitmaps.js';

const U64_MAX = 2n ** 64n - 1n;
const MOCK_PAGE = 2048n;
const MOCK_HUGE = 512n * MOCK_PAGE;
const APERTURE = 1n << 24n;
const SELFTEST_OFFSETS = [0, 2048, 0xff1];

interface Rig {
  arena: Arena;
  bitmap: IovaBitmap;
  model: BitModel;
}

function rig(iova: bigint, length: bigint, pageSize: bigint, byteOffset: number, opts: { tail?: number; seed?: number; windowPages?: number } = {}): Rig {
  const nbits = Number(length / pageSize);
  const arena = makeArena(nbits, byteOffset, opts.tail ?? 13, opts.seed ?? 0x5eed + byteOffset);
  const bitmap = new IovaBitmap({ iova, length, pageSize, buffer: arena.buffer, byteOffset, windowPages: opts.windowPages });
  return { arena, bitmap, model: new BitModel(iova, length, pageSize) };
}

/** The whole buffer equals the initial guards plus the model's bits. */
function expectBufferMatches(r: Rig): void {
  const got = new Uint8Array(r.arena.buffer);
  const want = expectedBuffer(r.arena, r.model);
  expect(firstDiff(got, want), describeMismatch(r.arena, got, want)).toBe(-1);
}

function setBoth(r: Rig, iova: bigint, length: bigint): void {
  r.bitmap.set(iova, length);
  r.model.set(iova, length);
}

describe('kernel fix history, replayed', () => {
  it('f38044e5ef58: a bitmap at a non-zero page offset records the end of its first page and clobbers nothing after it', () => {
    for (const byteOffset of [0xff1, 2048, 1, 4095]) {
      // 3 pages of bitmap memory at 2 KiB IOVA pages; one window per 4 KiB page of the buffer.
      const nbits = 8 * 3 * 4096;
      const r = rig(APERTURE, BigInt(nbits) * MOCK_PAGE, MOCK_PAGE, byteOffset, { windowPages: 1 });
      const firstPageBits = (4096 - byteOffset) * 8; // bits stored in the first (partial) buffer page
      const ws = r.bitmap.windows();
      expect(ws[0]!.byteLength).toBe(4096 - byteOffset);
      expect(ws[0]!.bitCount).toBe(firstPageBits);
      // The last bits of the first page, and a run across the page edge.
      for (const k of [firstPageBits - 1, firstPageBits - 9, firstPageBits]) setBoth(r, APERTURE + BigInt(k) * MOCK_PAGE, 1n);
      setBoth(r, APERTURE + BigInt(firstPageBits - 20) * MOCK_PAGE + 5n, 40n * MOCK_PAGE);
      expectBufferMatches(r);
      // Record every window over its own IOVA range: every bit ends up set, nothing else moves.
      for (const w of ws) setBoth(r, w.iova, w.length);
      expect(r.bitmap.count()).toBe(nbits);
      expectBufferMatches(r);
    }
  });

  it('d18411ec3057: bitmaps under 2 MiB whose start is not u64-aligned keep their tail (selftest sizes and offsets)', () => {
    // Buffer sizes of the selftest variants: 8K, 16K, 64K, 128K, 320K, 64M, 128M at 2 KiB pages.
    const sizes = [8n * KiB, 16n * KiB, 64n * KiB, 128n * KiB, 320n * KiB, 64n * MiB, 128n * MiB];
    for (const size of sizes) {
      const nbits = Number(size / MOCK_PAGE);
      for (const byteOffset of [...SELFTEST_OFFSETS, 3, 5, 7]) {
        const r = rig(APERTURE, size, MOCK_PAGE, byteOffset);
        // The selftest pattern: one dirty page every pteset = 2 pages (npte = 1).
        for (let k = 0; k < nbits; k += 2) setBoth(r, APERTURE + BigInt(k) * MOCK_PAGE, MOCK_PAGE);
        expect(r.bitmap.count()).toBe(Math.max(1, Math.floor(nbits / 2)));
        // The tail: the last page of the range.
        setBoth(r, APERTURE + size - 1n, 1n);
        expect(r.bitmap.testBit(nbits - 1)).toBe(true);
        expectBufferMatches(r);
        const ws = r.bitmap.windows();
        expect(ws.reduce((n, w) => n + w.byteLength, 0)).toBe(Math.ceil(nbits / 8));
        expect(ws.reduce((n, w) => n + w.bitCount, 0)).toBe(nbits);
      }
    }
  });

  it('d18411ec3057 with the hugepage variants: 1 MiB IOPTEs recorded at 2 KiB bitmap pages', () => {
    for (const size of [64n * MiB, 128n * MiB]) {
      for (const byteOffset of SELFTEST_OFFSETS) {
        const r = rig(APERTURE, size, MOCK_PAGE, byteOffset);
        // npte = 512, pteset = 1024: every other huge page dirty, recorded from its iova.
        for (let iova = APERTURE; iova < APERTURE + size; iova += 2n * MOCK_HUGE) setBoth(r, iova, MOCK_HUGE);
        const nbits = Number(size / MOCK_PAGE);
        expect(r.bitmap.count()).toBe(nbits / 2);
        for (let k = 0; k < nbits; k += 1024) {
          expect(r.bitmap.countBits(k, 512)).toBe(512);
          expect(r.bitmap.countBits(k + 512, 512)).toBe(0);
        }
        expectBufferMatches(r);
      }
    }
  });

  it('2780025e01e2: a 1 GiB IOPTE across the 64 GiB window edge at 4 KiB pages is recorded whole', () => {
    // 128 GiB at 4 KiB pages: 2^25 bits, 4 MiB of bitmap, two windows of 64 GiB when page-aligned.
    const length = 128n * GiB;
    const aligned = new IovaBitmap({ iova: 0n, length, pageSize: 4096n });
    const ws = aligned.windows();
    expect(ws.map((w) => [w.iova, w.length])).toEqual([
      [0n, 64n * GiB],
      [64n * GiB, 64n * GiB],
    ]);
    // A 1 GiB page recorded from an unaligned iova (the mock records from iova, not head).
    aligned.set(64n * GiB - 512n * MiB, GiB);
    expect(aligned.count()).toBe(262144);
    expect(aligned.countBits(ws[0]!.firstBit, ws[0]!.bitCount)).toBe(131072);
    expect(aligned.countBits(ws[1]!.firstBit, ws[1]!.bitCount)).toBe(131072);
    expect([...aligned.dirtyRanges()]).toEqual([{ iova: 64n * GiB - 512n * MiB, length: GiB }]);

    // With the bitmap at +0xff1 the first window ends 4081 bytes early: inside the 1 GiB IOPTE
    // [63 GiB, 64 GiB), so a 1G-aligned huge page straddles the window edge.
    const buffer = new SharedArrayBuffer(0xff1 + IovaBitmap.bytesFor(length, 4096) + 3);
    const shifted = new IovaBitmap({ iova: 0n, length, pageSize: 4096n, buffer, byteOffset: 0xff1 });
    const sw = shifted.windows();
    const edge = sw[1]!.iova;
    expect(edge > 63n * GiB && edge < 64n * GiB).toBe(true);
    shifted.set(63n * GiB, GiB);
    expect(shifted.count()).toBe(262144);
    expect(shifted.countBits(sw[0]!.firstBit, sw[0]!.bitCount) + shifted.countBits(sw[1]!.firstBit, sw[1]!.bitCount)).toBe(262144);
    expect(shifted.countBits(sw[1]!.firstBit, sw[1]!.bitCount)).toBe(Number((64n * GiB - edge) / 4096n));
    expect([...shifted.dirtyRanges()]).toEqual([{ iova: 63n * GiB, length: GiB }]);
    expect([shifted.test(63n * GiB - 1n), shifted.test(63n * GiB), shifted.test(64n * GiB - 1n), shifted.test(64n * GiB)]).toEqual([
      false,
      true,
      true,
      false,
    ]);
    // Nothing outside the bitmap: the 0xff1 bytes before it and the 3 after stay zero.
    const bytes = new Uint8Array(buffer);
    expect(bytes.subarray(0, 0xff1).every((x) => x === 0)).toBe(true);
    expect(bytes.subarray(bytes.length - 3).every((x) => x === 0)).toBe(true);
  });

  it('a set reaching the last page of the range marks it; one running past the end stops at the end', () => {
    for (const [pageSize, nbits, byteOffset] of [
      [4096n, 77, 0xff1],
      [MOCK_PAGE, 13, 2048],
      [1n, 5, 3],
      [2n ** 40n, 1001, 6],
    ] as const) {
      const iova = 2n ** 44n;
      const length = BigInt(nbits) * pageSize;
      const end = iova + length;
      const r = rig(iova, length, pageSize, byteOffset, { tail: 2 });
      setBoth(r, end - 1n, 1n); // the very last byte
      expect(r.bitmap.testBit(nbits - 1)).toBe(true);
      expectBufferMatches(r);
      setBoth(r, end - pageSize, 2n * pageSize); // the last page and one past it
      setBoth(r, end - 3n * pageSize > iova ? end - 3n * pageSize : iova, U64_MAX - end); // far past the end
      expectBufferMatches(r);
      expect(r.bitmap.count()).toBe(r.model.count());
    }
  });

  it('4bbcbc6ea2fa: a page-unaligned bitmap of fewer than 512 pages is one window ([1M..3G])', () => {
    const iova = MiB;
    const length = 3n * GiB - MiB;
    const bytes = IovaBitmap.bytesFor(length, 4096);
    expect(Math.ceil(bytes / 4096)).toBeLessThan(512);
    for (const byteOffset of [0xff1, 33, 2048, 4095]) {
      const pgoff = byteOffset % 4096;
      // The failing shape: without the extra page for the unaligned start, ceil(bytes / 4096)
      // pinned pages hold fewer bytes than the bitmap, and the range needed a second window.
      expect(Math.ceil(bytes / 4096) * 4096 - pgoff).toBeLessThan(bytes);
      const buffer = new SharedArrayBuffer(byteOffset + bytes);
      const b = new IovaBitmap({ iova, length, pageSize: 4096, buffer, byteOffset });
      const ws = b.windows();
      expect(ws).toHaveLength(1);
      expect([ws[0]!.iova, ws[0]!.length, ws[0]!.byteLength]).toEqual([iova, length, bytes]);
      b.set(ws[0]!.iova, ws[0]!.length);
      expect(b.count()).toBe(b.nbits);
    }
  });

  it('4bbcbc6ea2fa, generalised: any bitmap whose bytes plus page offset fit in windowPages pages is one window', () => {
    for (const windowPages of [1, 2, 3, 512]) {
      for (const byteOffset of [0, 1, 0xff1, 4095, 4096 + 17]) {
        const pgoff = byteOffset % 4096;
        const fit = windowPages * 4096 - pgoff; // bytes that fit in windowPages pages
        for (const bytes of [1, fit - 1, fit, fit + 1].filter((n) => n >= 1)) {
          const nbits = bytes * 8;
          const ws = computeWindows({ iova: 0n, pageSize: 4096n, nbits, byteOffset, windowPages });
          expect(ws.length, `W=${windowPages} off=${byteOffset} bytes=${bytes}`).toBe(bytes <= fit ? 1 : 2);
          expect(ws).toEqual(modelWindows(0n, 4096n, nbits, byteOffset, windowPages));
        }
      }
    }
  });

  it('cb30dfa75d55: page size 2^63 neither overflows nor divides by zero', () => {
    const P = 2n ** 63n;
    expect(IovaBitmap.bytesFor(P, P)).toBe(1);
    for (const iova of [0n, P]) {
      const r = rig(iova, P, P, 5, { tail: 1 });
      expect(r.bitmap.nbits).toBe(1);
      expect(r.bitmap.windows()).toEqual([{ index: 0, iova, length: P, firstBit: 0, bitCount: 1, byteOffset: 5, byteLength: 1 }]);
      setBoth(r, iova + P - 1n, 1n);
      expect(r.bitmap.test(iova)).toBe(true);
      expect([...r.bitmap.dirtyRanges()]).toEqual([{ iova, length: P }]);
      expectBufferMatches(r);
    }
    const hi = new IovaBitmap({ iova: P, length: P, pageSize: P });
    hi.setUnits(1, 1, 63);
    expect(hi.bitOfUnit(1, 63)).toBe(0);
    expect(hi.count()).toBe(1);
    const lo = new IovaBitmap({ iova: 0n, length: P, pageSize: P });
    lo.setUnits(1, 1, 63); // IOVA [2^63, 2^64): past the end
    lo.set(U64_MAX, 1);
    expect(lo.count()).toBe(0);
    lo.setUnits(0, 5, 62); // [0, 5 * 2^62): covers page 0, the rest past the end (and past 2^64)
    expect(lo.count()).toBe(1);
  });

  it('33335584eb78: sub-byte bitmaps (1..7 bits) never touch the unused bits of their byte', () => {
    for (let nbits = 1; nbits <= 7; nbits++) {
      for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
        for (const pageSize of [MOCK_PAGE, 4096n]) {
          const r = rig(APERTURE, BigInt(nbits) * pageSize, pageSize, byteOffset, { tail: byteOffset % 3, seed: nbits * 64 + byteOffset + 1 });
          for (let k = 0; k < nbits; k += 2) setBoth(r, APERTURE + BigInt(k) * pageSize + 1n, 1n);
          expectBufferMatches(r);
          r.bitmap.setBits(-3, 20);
          r.model.setBits(-3, 20);
          r.bitmap.orMask(-8, -1);
          r.model.orMask(-8, -1);
          expect(r.bitmap.count()).toBe(nbits);
          expect([...r.bitmap.snapshot()]).toEqual([2 ** nbits - 1]);
          expectBufferMatches(r);
          r.bitmap.clear();
          r.model.clear();
          expectBufferMatches(r);
        }
      }
    }
  });

  it('58ccf0190d19: an unaligned range straddling two pages sets both', () => {
    for (const shift of [0, 1, 11, 12, 21, 30, 61]) {
      const P = 1n << BigInt(shift);
      const iova = shift === 61 ? 2n ** 62n : 2n ** 40n;
      const r = rig(iova, 4n * P, P, 1, { tail: 1 });
      setBoth(r, iova + P - 1n, 2n); // last byte of page 0, first of page 1
      if (shift > 0) setBoth(r, iova + 3n * P - 1n, 2n); // pages 2 and 3
      else setBoth(r, iova + 2n, 2n);
      expect(r.bitmap.count()).toBe(4);
      expectBufferMatches(r);
    }
    // A one-page length at an unaligned start touches two pages.
    const r = rig(0n, 64n * 4096n, 4096n, 3);
    setBoth(r, 4096n * 10n + 100n, 4096n);
    expect([r.bitmap.testBit(10), r.bitmap.testBit(11), r.bitmap.count()]).toEqual([true, true, 2]);
    expectBufferMatches(r);
  });

  it('set() below iova, or at or past the end, is dropped; a range reaching in from below is clipped', () => {
    const iova = 2n ** 50n;
    const P = 4096n;
    const r = rig(iova, 100n * P, P, 0xff1, { tail: 3 });
    for (const [x, len] of [
      [iova - P, P],
      [iova - 1n, 1n],
      [0n, iova],
      [iova + 100n * P, 1n],
      [iova + 100n * P, U64_MAX - iova - 100n * P],
      [U64_MAX, 1n],
      [U64_MAX, U64_MAX],
      [0n, 0n],
      [iova, 0n],
    ] as const) {
      setBoth(r, x, len);
    }
    expect(r.bitmap.count()).toBe(0);
    expectBufferMatches(r);
    setBoth(r, iova - 5n * P, 6n * P); // reaches page 0
    setBoth(r, 0n, U64_MAX); // everything
    expect(r.bitmap.count()).toBe(100);
    expectBufferMatches(r);
  });

  it('a4ab7dedaee0: huge IOPTEs recorded into a small bitmap at base-page granularity stay inside it', () => {
    // A 1 GiB and a 512 GiB record into a 24-page bitmap at 2 KiB pages: clipped, no write past it.
    const r = rig(APERTURE, 24n * MOCK_PAGE, MOCK_PAGE, 0xff1, { tail: 1 });
    setBoth(r, APERTURE + 20n * MOCK_PAGE, GiB);
    setBoth(r, 0n, 512n * GiB);
    r.bitmap.setUnits(Number(APERTURE >> 30n), 1, 30);
    r.bitmap.setBits(20, 2 ** 40);
    expect(r.bitmap.count()).toBe(24);
    expectBufferMatches(r);
  });

  it('792583656f55: a set that ends exactly at the end of the last window finishes cleanly', () => {
    for (const windowPages of [1, 2]) {
      for (const byteOffset of [0, 0xff1]) {
        const nbits = 8 * (3 * 4096 - byteOffset);
        const r = rig(0n, BigInt(nbits) * 4096n, 4096n, byteOffset, { windowPages, tail: 1 });
        const ws = r.bitmap.windows();
        const last = ws[ws.length - 1]!;
        expect(last.firstBit + last.bitCount).toBe(nbits);
        // From inside the second to last window to exactly the end.
        const from = ws[Math.max(0, ws.length - 2)]!.iova + 4096n * 7n;
        setBoth(r, from, last.iova + last.length - from);
        expectBufferMatches(r);
        expect(r.bitmap.testBit(nbits - 1)).toBe(true);
      }
    }
  });
});
