/**
 * The kernel-shaped windows of an IovaBitmap (windows.ts, docs/design/windowing.md §3-§4).
 *
 * Checked two ways: against the model's statement of the rule (a window pins the 4 KiB buffer
 * pages [P, P + windowPages) from the page P of its first byte; ./helpers/bitModel.ts), and by
 * the tiling invariants alone (contiguous, no gap, no overlap, at most windowPages pages, cut only
 * at 4 KiB boundaries, IOVA fields consistent), which hold whatever the rule's details.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, type BitmapWindow } from '@iovabitmap/core';
import { computeWindows, DEFAULT_WINDOW_PAGES, BITMAP_PAGE_BYTES } from '@iovabitmap/core/internal';
import { describeMismatch, expectedBuffer, geometryArb, makeArena, BitModel, modelWindows, MODEL_U64_MAX } from './helpers/bitModel.js';
import { GiB } from '../helpers/sizes.js';
import { firstDiff } from '../helpers/bitmaps.js';


/**
 * The tiling invariants, stated without reference to how the windows are computed. Returns the
 * first violation, or '' (plain comparisons: thousands of windows per run).
 */
function tilingViolation(ws: readonly BitmapWindow[], g: { iova: bigint; pageSize: bigint; nbits: number; byteOffset: number; windowPages: number }): string {
  const bytes = Math.ceil(g.nbits / 8);
  if (ws.length === 0) return 'no window';
  let bit = 0;
  let byte = g.byteOffset;
  let iova = g.iova;
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    const at = `window ${i} ${JSON.stringify(w, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}: `;
    if (w.index !== i) return at + 'index';
    if (w.firstBit !== bit) return at + `gap or overlap in bits (expected firstBit ${bit})`;
    if (w.byteOffset !== byte) return at + `gap or overlap in bytes (expected byteOffset ${byte})`;
    if (w.iova !== iova) return at + `gap or overlap in IOVA (expected ${iova})`;
    if (!(w.bitCount > 0 && w.byteLength > 0)) return at + 'empty';
    if (w.firstBit % 8 !== 0) return at + 'does not start on a byte';
    if (!(w.bitCount <= w.byteLength * 8 && w.bitCount > (w.byteLength - 1) * 8)) return at + 'bitCount does not match byteLength';
    if (w.length !== BigInt(w.bitCount) * g.pageSize) return at + 'length is not bitCount * pageSize';
    const firstPage = Math.floor(w.byteOffset / BITMAP_PAGE_BYTES);
    const pages = Math.floor((w.byteOffset + w.byteLength - 1) / BITMAP_PAGE_BYTES) - firstPage + 1;
    if (pages > g.windowPages) return at + `spans ${pages} pages > windowPages`;
    // Every cut but the range end is at a 4 KiB boundary of the buffer, after exactly W pages.
    if (i < ws.length - 1 && ((w.byteOffset + w.byteLength) % BITMAP_PAGE_BYTES !== 0 || pages !== g.windowPages)) {
      return at + 'cut before windowPages pages or off a 4 KiB boundary';
    }
    bit += w.bitCount;
    byte += w.byteLength;
    iova += w.length;
  }
  if (bit !== g.nbits) return `bits add up to ${bit}, not nbits ${g.nbits}`;
  if (byte !== g.byteOffset + bytes) return `bytes end at ${byte}, not ${g.byteOffset + bytes}`;
  if (iova !== g.iova + BigInt(g.nbits) * g.pageSize) return `IOVA ends at ${iova}`;
  return '';
}

const windowPagesArb = fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(DEFAULT_WINDOW_PAGES, 511, 513), fc.integer({ min: 1, max: 2048 }));

describe('windows tile the bitmap exactly', () => {
  it('for large bitmaps anywhere in the 64-bit space (computeWindows)', () => {
    fc.assert(
      fc.property(geometryArb(2 ** 26), fc.integer({ min: 0, max: 8191 }), windowPagesArb, (g, byteOffset, windowPages) => {
        // Keep the window count moderate: at most ~2000 windows.
        fc.pre(Math.ceil(g.nbits / 8) / (windowPages * BITMAP_PAGE_BYTES) < 2000);
        const geo = { iova: g.iova, pageSize: g.pageSize, nbits: g.nbits, byteOffset, windowPages };
        const ws = computeWindows(geo);
        expect(tilingViolation(ws, geo)).toBe('');
        expect(ws).toEqual(modelWindows(g.iova, g.pageSize, g.nbits, byteOffset, windowPages));
      }),
      { numRuns: 300 },
    );
  });

  it('IovaBitmap.windows() is the same tiling, for every byteOffset class and windowPages', () => {
    const buffer = new SharedArrayBuffer(8192 + 70_000);
    fc.assert(
      fc.property(geometryArb(8 * 70_000), fc.integer({ min: 0, max: 8191 }), windowPagesArb, (g, byteOffset, windowPages) => {
        const b = new IovaBitmap({ iova: g.iova, length: g.length, pageSize: g.pageSize, buffer, byteOffset, windowPages });
        const ws = b.windows();
        expect(tilingViolation(ws, { iova: g.iova, pageSize: g.pageSize, nbits: g.nbits, byteOffset, windowPages })).toBe('');
        expect(ws).toEqual(modelWindows(g.iova, g.pageSize, g.nbits, byteOffset, windowPages));
        expect(b.windows()).toBe(ws); // cached
      }),
      { numRuns: 200 },
    );
  });

  it('each window holds exactly its own bits: setting a window writes only its bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 * 8 * 4096 }),
        fc.integer({ min: 0, max: 8191 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        (nbits, byteOffset, windowPages, pick, seed) => {
          const arena = makeArena(nbits, byteOffset, 3, seed);
          const b = new IovaBitmap({ iova: 0n, length: BigInt(nbits), pageSize: 1n, buffer: arena.buffer, byteOffset, windowPages });
          const ws = b.windows();
          const w = ws[pick % ws.length]!;
          const model = new BitModel(0n, BigInt(nbits), 1n);
          b.set(w.iova, w.length);
          model.set(w.iova, w.length);
          const got = new Uint8Array(arena.buffer);
          const want = expectedBuffer(arena, model);
          expect(firstDiff(got, want), describeMismatch(arena, got, want)).toBe(-1);
          // The changed bytes all lie in [w.byteOffset, w.byteOffset + w.byteLength).
          let strays = 0;
          for (let i = 0; i < got.length; i++) {
            if (got[i] !== arena.initial[i] && !(i >= w.byteOffset && i < w.byteOffset + w.byteLength)) strays++;
          }
          expect(strays).toBe(0);
          expect(b.countBits(w.firstBit, w.bitCount)).toBe(w.bitCount);
          expect(b.count()).toBe(w.bitCount);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('window sizes', () => {
  it('at 4 KiB pages and 512 window pages one window covers 64 GiB of IOVA (2 MiB of bitmap)', () => {
    // [4G, 4G + 200G): page-aligned bitmap, windows of 64 GiB, the last clipped at the range end.
    const ws = computeWindows({ iova: 4n * GiB, pageSize: 4096n, nbits: Number((200n * GiB) / 4096n), byteOffset: 0, windowPages: DEFAULT_WINDOW_PAGES });
    expect(ws.map((w) => [w.iova / GiB, w.length / GiB])).toEqual([
      [4n, 64n],
      [68n, 64n],
      [132n, 64n],
      [196n, 8n],
    ]);
    expect(ws.slice(0, 3).every((w) => w.byteLength === 2 * 2 ** 20 && w.bitCount === 2 ** 24)).toBe(true);
  });

  it('the default windowPages is 512', () => {
    const b = new IovaBitmap({ iova: 0, length: 4096 * 8, pageSize: 4096 });
    expect(b.windowPages).toBe(512);
    expect(DEFAULT_WINDOW_PAGES).toBe(512);
  });

  it('an unaligned first window is shorter by its page offset (512 pages pinned, the first partly)', () => {
    const nbits = 8 * 3 * 2 ** 21; // 6 MiB of bitmap
    const ws = computeWindows({ iova: 0n, pageSize: 4096n, nbits, byteOffset: 0xff1, windowPages: 512 });
    expect(ws.map((w) => w.byteLength)).toEqual([2 ** 21 - 0xff1, 2 ** 21, 2 ** 21, 0xff1]);
    expect(ws[1]!.byteOffset).toBe(2 ** 21);
  });

  it('window IOVA ranges are exact at the top of the 64-bit space', () => {
    const pageSize = 1n;
    const nbits = 3 * 8 * 4096 + 5;
    const iova = MODEL_U64_MAX + 1n - BigInt(nbits);
    const ws = computeWindows({ iova, pageSize, nbits, byteOffset: 100, windowPages: 1 });
    const last = ws[ws.length - 1]!;
    expect(last.iova + last.length - 1n).toBe(MODEL_U64_MAX);
  });
});
