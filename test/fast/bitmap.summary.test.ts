/**
 * The bitmap's summary layer (core's bitmap/bitSummary.ts): the readers visit only marked blocks,
 * the summary never under-approximates, rescan() rebuilds it from direct writes, orInto() ORs one
 * bitmap into another of the same geometry, and share()/fromShared() carry (and check) it.
 *
 * The property test drives a bitmap inside a buffer of random guard bytes (./helpers/bitModel.ts)
 * with random API writes, clears, direct writes to the buffer followed by rescan(), and orInto()
 * in both directions, against the per-page model; after every step count(), countBits(),
 * dirtyRanges() and the whole buffer must match the model, and every set bit must lie in a marked
 * block (`uncoveredBits`, which reads the bytes, not the readers under test).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, type SharedIovaBitmap } from '@iovabitmap/core';
import { BITMAP_SUMMARY, bitmapViews, deferMarks, summaryClean, type InternalIovaBitmapOptions } from '@iovabitmap/core/internal';
import { applyOp, BitModel, describeMismatch, expectedBuffer, geometryArb, makeArena, opArb, showOp, type BitOp, type Geometry } from './helpers/bitModel.js';
import { firstDiff, uncoveredBits } from '../helpers/bitmaps.js';
import { rejection } from '../helpers/rejection.js';
import { hostileValues } from '../helpers/hostile.js';

/** One step of the property test. */
type Step =
  | { kind: 'api'; op: BitOp }
  /** Direct writes of the caller to the buffer (bit k to `on`), then rescan(). */
  | { kind: 'direct'; writes: [number, boolean][] }
  /** A fresh bitmap of the same geometry with these bits set is OR-ed into ours. */
  | { kind: 'orFrom'; bits: [number, number][] }
  /** Ours is OR-ed into a bitmap over another arena at `byteOffset` (its own bits `bits`). */
  | { kind: 'orTo'; byteOffset: number; bits: [number, number][] };

function stepArb(g: Geometry): fc.Arbitrary<Step> {
  const bit = fc.integer({ min: 0, max: g.nbits - 1 });
  const runs = fc.array(fc.tuple(bit, fc.integer({ min: 1, max: 700 })), { maxLength: 6 });
  return fc.oneof(
    { weight: 4, arbitrary: opArb(g).map((op) => ({ kind: 'api' as const, op })) },
    { weight: 3, arbitrary: fc.array(fc.tuple(bit, fc.boolean()), { minLength: 1, maxLength: 40 }).map((writes) => ({ kind: 'direct' as const, writes })) },
    { weight: 1, arbitrary: runs.map((bits) => ({ kind: 'orFrom' as const, bits })) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 7 }), runs).map(([byteOffset, bits]) => ({ kind: 'orTo' as const, byteOffset, bits })) },
  );
}

function writeBit(bytes: Uint8Array, byteOffset: number, k: number, on: boolean): void {
  const i = byteOffset + (k >> 3);
  bytes[i] = on ? bytes[i]! | (1 << (k & 7)) : bytes[i]! & ~(1 << (k & 7));
}

/** count(), countBits() of a span, dirtyRanges(), and coverage agree with the model. */
function expectExact(bitmap: IovaBitmap, model: BitModel, span: [number, number], after: string): void {
  expect(uncoveredBits(bitmap), `set bits outside marked blocks, after ${after}`).toBe(0);
  expect(bitmap.count(), `count() after ${after}`).toBe(model.count());
  expect([...bitmap.dirtyRanges()], `dirtyRanges() after ${after}`).toEqual(model.ranges());
  const [first, n] = span;
  let want = 0;
  for (let k = Math.max(0, first); k < Math.min(model.nbits, first + n); k++) if (model.pages[k]) want++;
  expect(bitmap.countBits(first, n), `countBits(${first}, ${n}) after ${after}`).toBe(want);
}

describe('the summary never under-approximates, and the readers are exact', () => {
  it('random API writes, clears, direct buffer writes + rescan() and orInto(): count(), countBits(), dirtyRanges() and the buffer match the model', () => {
    const caseArb = geometryArb(20_000).chain((g) =>
      fc.record({
        g: fc.constant(g),
        byteOffset: fc.integer({ min: 0, max: 4100 }),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        steps: fc.array(stepArb(g), { minLength: 1, maxLength: 12 }),
        span: fc.tuple(fc.integer({ min: -10, max: g.nbits }), fc.integer({ min: 0, max: g.nbits + 10 })),
      }),
    );
    fc.assert(
      fc.property(caseArb, ({ g, byteOffset, seed, steps, span }) => {
        const geometry = { iova: g.iova, length: g.length, pageSize: g.pageSize };
        const arena = makeArena(g.nbits, byteOffset, 3, seed);
        const bytes = new Uint8Array(arena.buffer);
        const bitmap = new IovaBitmap({ ...geometry, buffer: arena.buffer, byteOffset });
        const model = new BitModel(g.iova, g.length, g.pageSize);
        bitmap.rescan(); // over the caller's memory the summary starts all-set: make it exact
        for (const step of steps) {
          const shown = step.kind === 'api' ? showOp(step.op) : `${step.kind} ${JSON.stringify(step)}`;
          if (step.kind === 'api') {
            applyOp(bitmap, step.op);
            applyOp(model, step.op);
          } else if (step.kind === 'direct') {
            for (const [k, on] of step.writes) {
              writeBit(bytes, byteOffset, k, on);
              model.pages[k] = on;
            }
            bitmap.rescan();
          } else if (step.kind === 'orFrom') {
            const other = new IovaBitmap(geometry);
            for (const [k, n] of step.bits) {
              other.setBits(k, n);
              model.setBits(k, n);
            }
            other.orInto(bitmap);
          } else {
            const to = makeArena(g.nbits, step.byteOffset, 2, seed + 1);
            const target = new IovaBitmap({ ...geometry, buffer: to.buffer, byteOffset: step.byteOffset });
            target.clear(); // the summary exact (nothing set), so orInto's marks are what covers
            const toModel = new BitModel(g.iova, g.length, g.pageSize);
            for (const [k, n] of step.bits) {
              target.setBits(k, n);
              toModel.setBits(k, n);
            }
            bitmap.orInto(target);
            for (let k = 0; k < g.nbits; k++) if (model.pages[k]) toModel.pages[k] = true;
            const got = new Uint8Array(to.buffer);
            const want = expectedBuffer(to, toModel);
            expect(firstDiff(got, want), `orInto's target after ${shown}: ${describeMismatch(to, got, want)}`).toBe(-1);
            expectExact(target, toModel, span, `${shown} (its target)`);
          }
          const want = expectedBuffer(arena, model);
          expect(firstDiff(bytes, want), `after ${shown}: ${describeMismatch(arena, bytes, want)}`).toBe(-1);
          expectExact(bitmap, model, span, shown);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('the readers visit only marked blocks', () => {
  it('bits written straight into the buffer are not seen until rescan(), then exactly', () => {
    const b = new IovaBitmap({ iova: 0, length: 4096n * 100_000n, pageSize: 4096 });
    const bytes = new Uint8Array(b.buffer);
    bytes[5000] = 0b1010_0001; // bits 40000, 40005, 40007: a block nobody marked
    b.setBits(3, 2);
    expect([b.count(), [...b.dirtyRanges()].length, b.countBits(40_000, 8)]).toEqual([2, 1, 0]);
    const carried = new IovaBitmap({ iova: 0, length: 4096n * 100_000n, pageSize: 4096 });
    b.orInto(carried);
    expect(carried.count()).toBe(2);
    b.clear(); // clears the marked blocks only: the unmarked bits stay in the memory
    expect(bytes[5000]).toBe(0b1010_0001);
    b.rescan();
    expect([b.count(), b.countBits(40_000, 8), b.testBit(40_005)]).toEqual([3, 3, true]);
    expect([...b.dirtyRanges()].map((r) => r.iova / 4096n)).toEqual([40_000n, 40_005n, 40_007n]);
    b.clear();
    expect([b.count(), bytes[5000]]).toEqual([0, 0]);
  });

  it('a bitmap over a caller buffer that already holds bits counts them (its summary starts all-set); rescan() writes nothing', () => {
    const buffer = new SharedArrayBuffer(4096);
    const bytes = new Uint8Array(buffer);
    bytes[1] = 0xff;
    bytes[3000] = 0x80;
    bytes[4095] = 0x55; // guard byte after the bitmap
    const b = new IovaBitmap({ iova: 0, length: 4095n * 8n, pageSize: 1, buffer });
    expect([b.count(), [...b.dirtyRanges()]]).toEqual([9, [{ iova: 8n, length: 8n }, { iova: 24_007n, length: 1n }]]);
    const before = bytes.slice();
    b.rescan();
    expect(firstDiff(bytes, before)).toBe(-1);
    expect(b.count()).toBe(9);
  });

  it('a set over many summary words marks exactly its blocks, whatever marks those words held before', () => {
    // 2^20 bits at 4 KiB pages: 32768 words = 2048 blocks of 64 B = 64 summary words. Runs start
    // and end anywhere (inside a summary word or on its edge, at even or odd words: the whole
    // words go in pairs, by 64-bit RMWs), over words that are clear, partly or wholly marked;
    // afterwards the summary must be what it was OR the run's blocks, no block more or less.
    const b = new IovaBitmap({ iova: 0, length: 4096n << 20n, pageSize: 4096 });
    const s = bitmapViews(b).summary!;
    const blockBits = 32 << s.shift;
    const blocks = b.nbits / blockBits;
    const patterns = [0, 0x0f0f_0f0f, -1, 0x7fff_ffff, 1 << 31, 1];
    const edge = fc.oneof(fc.nat({ max: blocks }).map((k) => k * blockBits), fc.nat({ max: blocks / 32 }).map((k) => k * 32 * blockBits), fc.nat({ max: b.nbits }));
    fc.assert(
      fc.property(edge, edge, fc.nat(), (x, y, salt) => {
        const [first, end] = [Math.min(x, y), Math.max(x, y)];
        fc.pre(end > first);
        b.clear();
        s.bits.forEach((_, i) => (s.bits[i] = patterns[(i + salt) % patterns.length]!)); // marks over nothing: allowed
        const before = s.bits.slice();
        b.setBits(first, end - first);
        const expected = before.slice();
        for (let k = Math.floor(first / blockBits); k <= Math.floor((end - 1) / blockBits); k++) expected[k >>> 5]! |= 1 << (k & 31);
        expect([...s.bits]).toEqual([...expected]);
        expect(uncoveredBits(b)).toBe(0);
        expect([b.count(), [...b.dirtyRanges()]]).toEqual([end - first, [{ iova: BigInt(first) * 4096n, length: BigInt(end - first) * 4096n }]]);
      }),
      { numRuns: 300 },
    );
  });

  it('without a summary (the internal [BITMAP_SUMMARY]: false) the readers scan everything', () => {
    const o: InternalIovaBitmapOptions = { iova: 0, length: 4096n * 100_000n, pageSize: 4096, [BITMAP_SUMMARY]: false };
    const b = new IovaBitmap(o);
    new Uint8Array(b.buffer)[5000] = 1;
    expect([bitmapViews(b).summary, b.count(), b.share().summary]).toEqual([undefined, 1, null]);
    expect(IovaBitmap.fromShared(b.share()).count()).toBe(1);
  });

  it('summaryClean() is true exactly while no block is marked (its own deferred marks made first), never without a summary', () => {
    const length = 4096n * 100_000n;
    const b = new IovaBitmap({ iova: 0, length, pageSize: 4096 });
    expect(summaryClean(b)).toBe(true);
    b.setBits(99_999, 1); // the last bit: the last block
    expect(summaryClean(b)).toBe(false);
    b.clear();
    expect(summaryClean(b)).toBe(true);
    deferMarks(b, true);
    b.setBits(0, 1); // its mark is held back in the scope
    expect(summaryClean(b)).toBe(false);
    deferMarks(b, false);
    const over = new IovaBitmap({ iova: 0, length, pageSize: 4096, buffer: new SharedArrayBuffer(IovaBitmap.bytesFor(length, 4096)) });
    expect(summaryClean(over)).toBe(false); // a caller's buffer: every block starts marked
    over.rescan();
    expect(summaryClean(over)).toBe(true);
    const o: InternalIovaBitmapOptions = { iova: 0, length, pageSize: 4096, [BITMAP_SUMMARY]: false };
    expect(summaryClean(new IovaBitmap(o))).toBe(false);
    expect(() => summaryClean({} as IovaBitmap)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('orInto()', () => {
  const geometry = { iova: 1n << 40n, length: 4096n * 5000n, pageSize: 4096 };

  it('refuses another geometry, a non-bitmap and an overlapping view with EINVAL, writing nothing', () => {
    const b = new IovaBitmap(geometry);
    b.setBits(0, 5000);
    const others = [
      new IovaBitmap({ ...geometry, iova: geometry.iova + 4096n }),
      new IovaBitmap({ ...geometry, length: geometry.length + 4096n }),
      new IovaBitmap({ ...geometry, pageSize: 8192 }),
    ];
    for (const o of others) {
      const e = rejection(() => b.orInto(o));
      expect([e.code, e.param]).toEqual(['EINVAL', 'other']);
      expect(o.count()).toBe(0);
    }
    for (const h of hostileValues()) {
      const e = rejection(() => b.orInto(h.value as IovaBitmap));
      expect([e.code, e.param], h.label).toEqual(['EINVAL', 'other']);
    }
    const buffer = new SharedArrayBuffer(2000);
    const x = new IovaBitmap({ ...geometry, buffer });
    const y = new IovaBitmap({ ...geometry, buffer, byteOffset: 300 }); // 625 bytes each: they overlap
    x.setBits(0, 100);
    const before = new Uint8Array(buffer).slice();
    expect(rejection(() => x.orInto(y)).code).toBe('EINVAL');
    expect(firstDiff(new Uint8Array(buffer), before)).toBe(-1);
    x.orInto(x); // itself: allowed, nothing changes
    expect(firstDiff(new Uint8Array(buffer), before)).toBe(-1);
  });

  it('ORs into views of any byte offset and keeps bits the target already had', () => {
    const b = new IovaBitmap(geometry);
    b.setBits(7, 1000);
    b.orMask(3000, 0x8000_0001);
    for (const byteOffset of [0, 1, 2, 3, 5, 626]) {
      const t = new IovaBitmap({ ...geometry, buffer: new SharedArrayBuffer(1300), byteOffset });
      t.clear();
      t.setBits(2, 3);
      b.orInto(t);
      expect([t.count(), [...t.dirtyRanges()]], `byteOffset ${byteOffset}`).toEqual([
        1005,
        [
          { iova: geometry.iova + 2n * 4096n, length: 3n * 4096n },
          { iova: geometry.iova + 7n * 4096n, length: 1000n * 4096n },
          { iova: geometry.iova + 3000n * 4096n, length: 4096n },
          { iova: geometry.iova + 3031n * 4096n, length: 4096n },
        ],
      ]);
      expect(uncoveredBits(t)).toBe(0);
    }
  });
});

describe('share() / fromShared() carry the summary', () => {
  const geometry = { iova: 0, length: 4096n * 70_000n, pageSize: 4096 };

  it('a view from fromShared() marks the same summary: its writes are seen by the first view', () => {
    const a = new IovaBitmap(geometry);
    const v = IovaBitmap.fromShared(a.share());
    v.setBits(65_000, 3);
    expect([a.count(), uncoveredBits(a)]).toEqual([3, 0]);
    a.clear();
    expect(v.count()).toBe(0);
  });

  it('refuses a summary that is not a SharedArrayBuffer, of another bitmap, or with a bad header, with EINVAL', () => {
    const a = new IovaBitmap(geometry);
    const d = a.share();
    const other = new IovaBitmap({ ...geometry, length: 4096n * 700_000n }).share().summary!;
    const badHeader = new SharedArrayBuffer(d.summary!.byteLength);
    new Int32Array(badHeader).set(new Int32Array(d.summary!));
    new Int32Array(badHeader)[0] = 3; // block shift below 16 words
    const wrongBlocks = new SharedArrayBuffer(d.summary!.byteLength);
    new Int32Array(wrongBlocks).set(new Int32Array(d.summary!));
    new Int32Array(wrongBlocks)[1]! += 1;
    const cases: [string, unknown][] = [
      ['an ArrayBuffer', new ArrayBuffer(d.summary!.byteLength)],
      ['undefined', undefined],
      ["another bitmap's", other],
      ['a bad block shift', badHeader],
      ['a wrong block count', wrongBlocks],
      ['too short', new SharedArrayBuffer(8)],
    ];
    for (const [what, summary] of cases) {
      const e = rejection(() => IovaBitmap.fromShared({ ...d, summary } as SharedIovaBitmap));
      expect(e.code, what).toBe('EINVAL');
      expect(e.param, what).toMatch(/summary/);
    }
  });

  it('an 8 GiB bitmap has a 16 MiB summary (1/512), one 64-byte header line more', () => {
    const s = new IovaBitmap({ iova: 0, length: 4096n * 2n ** 28n, pageSize: 4096 }).share().summary!; // 32 MiB bitmap
    expect(s.byteLength).toBe(2 ** 25 / 512 + 64);
  });
});

describe('deferred marks keep the run of blocks written, in any order', () => {
  it('writes in a deferral scope, in any order, overlapping, touching or apart, are all marked when it closes', () => {
    const BLOCK_BITS = 512; // 64-byte blocks
    fc.assert(
      fc.property(
        // Up to 300 writes over 1024 blocks: more runs than a writer holds back before it marks
        // them (bitSummary.ts PENDING_RUNS, 64), so the held runs are marked mid-scope too.
        fc.array(fc.record({ block: fc.nat({ max: 1023 }), blocks: fc.integer({ min: 1, max: 3 }), at: fc.nat({ max: BLOCK_BITS - 1 }) }), { minLength: 1, maxLength: 300, size: 'max' }),
        (writes) => {
          const b = new IovaBitmap({ iova: 0, length: 1026 * BLOCK_BITS * 4096, pageSize: 4096 });
          const want = new Set<number>();
          deferMarks(b, true);
          for (const w of writes) {
            // One bit in each of `blocks` consecutive blocks from `block`: a write of blocks [block, block + blocks - 1].
            const first = w.block * BLOCK_BITS + w.at;
            const count = (w.blocks - 1) * BLOCK_BITS + 1;
            b.setBits(first, count);
            for (let i = 0; i < count; i++) want.add(first + i);
          }
          deferMarks(b, false);
          expect(countViaSummary(b)).toBe(want.size);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** Bits counted through the summary's marked blocks only (dirtyRanges skips unmarked blocks). */
function countViaSummary(b: IovaBitmap): number {
  let n = 0;
  for (const r of b.dirtyRanges()) n += Number(r.length / 4096n);
  return n;
}
