/**
 * Canaries: the bitmap inside a larger SharedArrayBuffer full of random guard bytes, with random
 * values in the unused high bits of its last byte. No set, setBits, setUnits, orMask or clear may
 * change a single guard bit, whatever the offset, and the bits inside must match the model.
 *
 * Half of the cases give the buffer a byteLength that is not a multiple of 4 and put the bitmap's
 * last byte in that partial tail word, which has no Int32 element: those writes take the byte
 * path of bitKernels.ts (orWord / andWord on the Uint8Array view).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap } from '@iovabitmap/core';
import { applyOp, BitModel, describeMismatch, expectedBuffer, geometryArb, makeArena, opArb, showOp, type Arena, type BitOp, type Geometry } from './helpers/bitModel.js';
import { firstDiff } from '../helpers/bitmaps.js';

interface Layout {
  byteOffset: number;
  tail: number;
}

/** Any byteOffset 0..8191 and 0..11 guard bytes after the bitmap. */
const anyLayout = (): fc.Arbitrary<Layout> => fc.record({ byteOffset: fc.integer({ min: 0, max: 8191 }), tail: fc.integer({ min: 0, max: 11 }) });

/**
 * A layout whose buffer length is 1..3 bytes past a multiple of 4, with the bitmap's last byte in
 * that partial word (so the tail-bytes path is taken).
 */
const tailWordLayout = (bytes: number): fc.Arbitrary<Layout> =>
  fc.record({ q: fc.integer({ min: 0, max: 2047 }), r: fc.integer({ min: 1, max: 3 }) }).chain(({ q, r }) =>
    fc.integer({ min: 0, max: r - 1 }).map((tail) => {
      // byteOffset + bytes + tail = 4k + r with byteOffset >= 0
      const byteOffset = 4 * q + ((((r - bytes - tail) % 4) + 4) % 4);
      return { byteOffset, tail };
    }),
  );

function check(arena: Arena, model: BitModel, after: string): void {
  const got = new Uint8Array(arena.buffer);
  const want = expectedBuffer(arena, model);
  const i = firstDiff(got, want);
  if (i >= 0) throw new Error(`after ${after}: ${describeMismatch(arena, got, want)}`);
}

function run(g: Geometry, layout: Layout, seed: number, ops: BitOp[]): void {
  const arena = makeArena(g.nbits, layout.byteOffset, layout.tail, seed);
  const bitmap = new IovaBitmap({ iova: g.iova, length: g.length, pageSize: g.pageSize, buffer: arena.buffer, byteOffset: layout.byteOffset });
  const model = new BitModel(g.iova, g.length, g.pageSize);
  for (const op of ops) {
    applyOp(bitmap, op);
    applyOp(model, op);
    check(arena, model, showOp(op));
  }
  // Fill everything, then clear: the guards survive both extremes.
  bitmap.setBits(-1, g.nbits + 2);
  model.setBits(0, g.nbits);
  check(arena, model, 'setBits over everything');
  bitmap.clear();
  model.clear();
  check(arena, model, 'clear');
}

const SMALL = 2000;

describe('guard bytes around the bitmap and in its last byte are never written', () => {
  it('with any byteOffset and any guard tail', () => {
    fc.assert(
      fc.property(
        geometryArb(SMALL).chain((g) => fc.tuple(fc.constant(g), anyLayout(), fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(opArb(g), { maxLength: 20 }))),
        ([g, layout, seed, ops]) => run(g, layout, seed, ops),
      ),
      { numRuns: 200 },
    );
  });

  it('with the last byte in a partial tail word of a buffer whose length is not a multiple of 4', () => {
    fc.assert(
      fc.property(
        geometryArb(SMALL).chain((g) =>
          fc.tuple(fc.constant(g), tailWordLayout(Math.ceil(g.nbits / 8)), fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(opArb(g), { maxLength: 20 })),
        ),
        ([g, layout, seed, ops]) => {
          const bytes = Math.ceil(g.nbits / 8);
          const byteLength = layout.byteOffset + bytes + layout.tail;
          // The setup really is the partial-word case.
          expect(byteLength % 4).not.toBe(0);
          expect(layout.byteOffset + bytes - 1).toBeGreaterThanOrEqual(Math.floor(byteLength / 4) * 4);
          run(g, layout, seed, ops);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('orMask at every position around a small bitmap, in every tail-word layout', () => {
    for (let nbits = 1; nbits <= 40; nbits++) {
      for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
        for (let tail = 0; tail < 4; tail++) {
          const arena = makeArena(nbits, byteOffset, tail, nbits * 1000 + byteOffset * 10 + tail + 1);
          const b = new IovaBitmap({ iova: 0, length: nbits, pageSize: 1, buffer: arena.buffer, byteOffset });
          const model = new BitModel(0n, BigInt(nbits), 1n);
          for (let p = -33; p <= nbits + 1; p++) {
            const mask = p % 3 === 0 ? -1 : (0x9e3779b9 * (p + 7)) | 0;
            b.orMask(p, mask);
            model.orMask(p, mask);
            check(arena, model, `orMask(${p}, 0x${(mask >>> 0).toString(16)}) nbits=${nbits} off=${byteOffset} tail=${tail}`);
            if (p % 5 === 0) {
              b.clear();
              model.clear();
              check(arena, model, 'clear');
            }
          }
        }
      }
    }
  });

  it('setBits of every run in a small bitmap, then clear, in every tail-word layout', () => {
    for (const nbits of [1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100]) {
      for (let byteOffset = 0; byteOffset < 8; byteOffset++) {
        for (let tail = 0; tail < 4; tail++) {
          const arena = makeArena(nbits, byteOffset, tail, nbits * 977 + byteOffset * 13 + tail + 1);
          const b = new IovaBitmap({ iova: 0, length: nbits, pageSize: 1, buffer: arena.buffer, byteOffset });
          const model = new BitModel(0n, BigInt(nbits), 1n);
          for (let first = -2; first <= nbits; first += 3) {
            for (let count = 0; first + count <= nbits + 2; count += 5) {
              b.setBits(first, count);
              model.setBits(first, count);
              check(arena, model, `setBits(${first}, ${count}) nbits=${nbits} off=${byteOffset} tail=${tail}`);
              b.clear();
              model.clear();
              check(arena, model, 'clear');
            }
          }
        }
      }
    }
  });

  it('a long run (fill path) between guards at an unaligned offset, set through set(), setUnits() and setBits()', () => {
    const nbits = 8 * 4096 * 3 + 13; // > 64 whole words, so TypedArray.fill is used
    for (const byteOffset of [1, 2, 3, 0xff1, 4095]) {
      for (const tail of [0, 1, 2, 3]) {
        const arena = makeArena(nbits, byteOffset, tail, byteOffset * 7 + tail + 1);
        const P = 4096n;
        const iova = 2n ** 52n;
        const b = new IovaBitmap({ iova, length: BigInt(nbits) * P, pageSize: P, buffer: arena.buffer, byteOffset });
        const model = new BitModel(iova, BigInt(nbits) * P, P);
        b.set(iova + 5n * P + 1n, 70_000n * P);
        model.set(iova + 5n * P + 1n, 70_000n * P);
        check(arena, model, 'set');
        b.setUnits(Number(iova >> 21n), 1000, 21);
        model.setUnits(Number(iova >> 21n), 1000, 21);
        check(arena, model, 'setUnits');
        b.clear();
        model.clear();
        b.setBits(3, nbits);
        model.setBits(3, nbits);
        check(arena, model, 'setBits');
        expect(b.count()).toBe(nbits - 3);
      }
    }
  });

  it('a plain (non-shared) ArrayBuffer is guarded the same way', () => {
    const shared = makeArena(45, 3, 2, 42);
    const plain = new ArrayBuffer(shared.buffer.byteLength);
    new Uint8Array(plain).set(shared.initial);
    const b = new IovaBitmap({ iova: 0, length: 45, pageSize: 1, buffer: plain, byteOffset: 3 });
    b.setBits(0, 45);
    b.orMask(40, -1);
    const model = new BitModel(0n, 45n, 1n);
    model.setBits(0, 45);
    const want = expectedBuffer(shared, model);
    expect(firstDiff(new Uint8Array(plain), want)).toBe(-1);
    b.clear();
    expect(firstDiff(new Uint8Array(plain), shared.initial)).toBe(-1);
  });
});
