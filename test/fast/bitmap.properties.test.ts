/**
 * IovaBitmap against the naive per-page model (./helpers/bitModel.ts), with fast-check.
 *
 * Geometries span the whole 64-bit IOVA space and every page size 2^0..2^63; the bitmap sits at
 * byteOffsets 0..8191 inside a buffer of random guard bytes whose length is often not a multiple
 * of 4. Sequences of set / setBits / setUnits / orMask / clear run on both; afterwards the whole
 * buffer, count, test, testBit, countBits, dirtyRanges, snapshot and equals must agree with the
 * model. nbits stays below a few thousand so that the model stays cheap.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, MAX_BITMAP_BITS } from '@iovabitmap/core';
import {
  applyOp,
  BitModel,
  describeMismatch,
  expectedBuffer,
  geometryArb,
  makeArena,
  MODEL_U64_MAX,
  opArb,
  setOpArb,
  setUnitsOpArb,
  showOp,
  type BitOp,
  type Geometry,
} from './helpers/bitModel.js';
import { firstDiff } from '../helpers/bitmaps.js';

const RUNS = 250;

interface Case {
  g: Geometry;
  byteOffset: number;
  tail: number;
  seed: number;
  ops: BitOp[];
}

function caseArb(ops: (g: Geometry) => fc.Arbitrary<BitOp>, maxOps = 24): fc.Arbitrary<Case> {
  return geometryArb().chain((g) =>
    fc.record({
      g: fc.constant(g),
      byteOffset: fc.oneof(fc.integer({ min: 0, max: 8191 }), fc.constantFrom(0, 1, 3, 4, 7, 0xff1, 4095, 4096, 8191)),
      tail: fc.integer({ min: 0, max: 9 }),
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      ops: fc.array(ops(g), { minLength: 1, maxLength: maxOps }),
    }),
  );
}

/** Runs the ops on a real bitmap in a random arena and on the model, checking the buffer after each. */
function replay(c: Case): { bitmap: IovaBitmap; model: BitModel } {
  const arena = makeArena(c.g.nbits, c.byteOffset, c.tail, c.seed);
  const bitmap = new IovaBitmap({ iova: c.g.iova, length: c.g.length, pageSize: c.g.pageSize, buffer: arena.buffer, byteOffset: c.byteOffset });
  const model = new BitModel(c.g.iova, c.g.length, c.g.pageSize);
  const bytes = new Uint8Array(arena.buffer);
  for (const op of c.ops) {
    applyOp(bitmap, op);
    applyOp(model, op);
    const want = expectedBuffer(arena, model);
    if (firstDiff(bytes, want) >= 0) {
      throw new Error(`after ${showOp(op)}: ${describeMismatch(arena, bytes, want)}`);
    }
  }
  return { bitmap, model };
}

/** IOVAs worth probing: both ends of the range, page edges, and just outside. */
function probes(g: Geometry, extra: bigint[]): bigint[] {
  const end = g.iova + g.length;
  const out = [g.iova, g.iova + g.pageSize - 1n, end - 1n, end - g.pageSize, g.iova - 1n, end, ...extra];
  return out.filter((x) => x >= 0n && x <= MODEL_U64_MAX);
}

describe('IovaBitmap agrees with the per-page model', () => {
  it('the whole buffer (bitmap bits and every guard bit) after any sequence of set/setBits/setUnits/orMask/clear', () => {
    fc.assert(
      fc.property(caseArb(opArb), (c) => {
        replay(c);
      }),
      { numRuns: RUNS },
    );
  });

  it('count, test, testBit, countBits and dirtyRanges after set() sequences', () => {
    fc.assert(
      fc.property(
        caseArb(setOpArb, 12),
        fc.array(fc.bigInt({ min: 0n, max: MODEL_U64_MAX }), { maxLength: 4 }),
        fc.array(fc.tuple(fc.integer({ min: -10, max: 3010 }), fc.integer({ min: -10, max: 3010 })), { maxLength: 4 }),
        (c, randomIovas, spans) => {
          const { bitmap, model } = replay(c);
          expect(bitmap.count()).toBe(model.count());
          expect([...bitmap.dirtyRanges()]).toEqual(model.ranges());
          const inRange = c.ops.filter((o): o is Extract<BitOp, { kind: 'set' }> => o.kind === 'set').map((o) => o.iova);
          for (const x of probes(c.g, [...randomIovas, ...inRange])) {
            expect(bitmap.test(x), `test(0x${x.toString(16)})`).toBe(model.test(x));
          }
          const wrongBits: number[] = [];
          for (let k = -1; k <= c.g.nbits; k++) {
            if (bitmap.testBit(k) !== (k >= 0 && k < c.g.nbits && model.pages[k]!)) wrongBits.push(k);
          }
          expect(wrongBits, 'testBit disagrees at these bits').toEqual([]);
          for (const [first, n] of spans) {
            let want = 0;
            for (let k = Math.max(0, first); k < Math.min(model.nbits, first + n); k++) if (model.pages[k]) want++;
            expect(bitmap.countBits(first, n)).toBe(want);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('setUnits() in every unit size 2^0..2^63 marks what set() of the same IOVA bytes marks', () => {
    fc.assert(
      fc.property(caseArb(setUnitsOpArb, 8), (c) => {
        const { bitmap, model } = replay(c);
        expect([...bitmap.dirtyRanges()]).toEqual(model.ranges());
      }),
      { numRuns: RUNS },
    );
  });

  it('bitOfUnit() is floor((unit * 2^s - iova) / pageSize): exact when safe, else the nearest number', () => {
    fc.assert(
      fc.property(geometryArb(), fc.integer({ min: 0, max: 63 }), fc.bigInt({ min: -40n, max: 3040n }), (g, s, d) => {
        const bitmap = new IovaBitmap({ iova: g.iova, length: g.length, pageSize: g.pageSize, buffer: new SharedArrayBuffer(Math.ceil(g.nbits / 8)) });
        const model = new BitModel(g.iova, g.length, g.pageSize);
        const u = 2n ** BigInt(s);
        const unit = g.iova / u + d;
        if (unit < 0n || unit > BigInt(Number.MAX_SAFE_INTEGER)) return;
        const want = model.pageOf(unit * u);
        const got = bitmap.bitOfUnit(Number(unit), s);
        // Exact when safe; otherwise the nearest number (one rounding, so still ordered vs 0 and nbits).
        expect(got).toBe(Number(want));
      }),
      { numRuns: RUNS * 2 },
    );
  });

  it('snapshot() is the model bytes and equals() holds exactly when the bits match', () => {
    fc.assert(
      fc.property(caseArb(opArb, 10), fc.nat(), (c, pick) => {
        const { bitmap, model } = replay(c);
        expect(bitmap.snapshot()).toEqual(model.bytes());
        const copy = new IovaBitmap({ iova: c.g.iova, length: c.g.length, pageSize: c.g.pageSize });
        for (let k = 0; k < model.nbits; k++) if (model.pages[k]) copy.setBits(k, 1);
        expect(bitmap.equals(copy)).toBe(true);
        expect(copy.equals(bitmap)).toBe(true);
        const clear = model.pages.map((p, k) => (p ? -1 : k)).filter((k) => k >= 0);
        if (clear.length > 0) {
          copy.setBits(clear[pick % clear.length]!, 1);
          expect(bitmap.equals(copy)).toBe(false);
        }
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('bytesFor(length, pageSize) is ceil(nbits / 8) for every page size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 63 }), fc.bigInt({ min: 1n, max: 2n ** 40n }), (s, pages) => {
        const pageSize = 2n ** BigInt(s);
        fc.pre(pages * pageSize <= MODEL_U64_MAX && pages <= BigInt(MAX_BITMAP_BITS));
        const bytes = (pages + 7n) / 8n;
        expect(IovaBitmap.bytesFor(pages * pageSize, pageSize)).toBe(Number(bytes));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('setUnits() with units of more than 2^53 pages', () => {
  it('marks the pages next to a unit edge exactly (the remainder of iova is not a safe number)', () => {
    const arb = fc.integer({ min: 0, max: 9 }).chain((pageShift) =>
      fc.record({
        pageShift: fc.constant(pageShift),
        shift: fc.integer({ min: pageShift + 54, max: 63 }),
        nbits: fc.integer({ min: 1, max: 300 }),
        j: fc.integer({ min: -310, max: 310 }),
        du: fc.integer({ min: -1, max: 1 }),
        count: fc.integer({ min: 1, max: 3 }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ pageShift, shift, nbits, j, du, count }) => {
        const pageSize = 2n ** BigInt(pageShift);
        const unitBytes = 2n ** BigInt(shift);
        const boundary = unitBytes * (2n ** BigInt(63 - shift)); // 2^63: a unit edge in the middle of the space
        const iova = boundary + BigInt(j) * pageSize;
        const length = BigInt(nbits) * pageSize;
        const bitmap = new IovaBitmap({ iova, length, pageSize });
        const model = new BitModel(iova, length, pageSize);
        const unit = Number(boundary / unitBytes) + du;
        bitmap.setUnits(unit, count, shift);
        model.setUnits(unit, count, shift);
        expect([...bitmap.dirtyRanges()]).toEqual(model.ranges());
        expect(bitmap.snapshot()).toEqual(model.bytes());
      }),
      { numRuns: RUNS },
    );
  });
});
