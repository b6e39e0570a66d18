/**
 * The tracker's hot kernels (packages/core/src/tracker/trackerKernel.ts) against a bit-by-bit model:
 * readRuns hands over exactly the set bits of its range as maximal runs, in order, each while its
 * bits are still set (record before clear), then clears exactly those bits; orBitRun sets exactly
 * its run; readMasks (the word-at-a-time reader used when a tracker page is one bitmap page) hands
 * over the same bits as masks and runs of all-ones words. Words are random, mostly zero or mostly ones so that runs cross many words.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { orBitRun, readMasks, readRuns } from '@iovabitmap/core/internal';

const WORDS = 12;

const wordArb = fc.oneof(fc.constant(0), fc.constant(-1), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.constant(1), fc.constant(-(2 ** 31)));
const rangeArb = fc.tuple(fc.integer({ min: 0, max: WORDS * 32 }), fc.integer({ min: 0, max: WORDS * 32 })).map(([a, b]) => (a <= b ? [a, b] : [b, a]));

const bit = (w: Int32Array, p: number) => (w[p >>> 5]! >>> (p & 31)) & 1;

describe('readRuns', () => {
  it('records maximal runs of exactly the set bits in range, each before its bits are cleared', () => {
    fc.assert(
      fc.property(fc.array(wordArb, { minLength: WORDS, maxLength: WORDS }), rangeArb, fc.integer({ min: -1000, max: 1000 }), fc.boolean(), (init, [b0, b1], off, clear) => {
        const words = Int32Array.from(init);
        const before = words.slice();
        const runs: [number, number][] = [];
        const early: number[] = []; // bits cleared before they were recorded
        const sink = {
          record(page: number, count: number) {
            expect(count).toBeGreaterThan(0);
            for (let p = page - off; p < page - off + count; p++) if (bit(words, p) !== 1) early.push(p);
            runs.push([page - off, count]);
          },
        };
        const visited = readRuns(words, b0!, b1!, off, sink, clear);
        expect(early).toEqual([]);
        expect(visited).toBe(b1! > b0! ? Math.floor((b1! - 1) / 32) - Math.floor(b0! / 32) + 1 : 0);
        const want: number[] = [];
        for (let p = b0!; p < b1!; p++) if (bit(before, p)) want.push(p);
        expect(runs.flatMap(([p, n]) => Array.from({ length: n }, (_, i) => p + i))).toEqual(want);
        for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBeGreaterThan(runs[i - 1]![0] + runs[i - 1]![1]); // maximal
        const after = Array.from({ length: WORDS * 32 }, (_, p) => bit(words, p));
        expect(after).toEqual(after.map((_, p) => (clear && p >= b0! && p < b1! ? 0 : bit(before, p))));
      }),
      { numRuns: 500 },
    );
  });

  it('merges a run across fully set words into one record', () => {
    const words = new Int32Array([0, -1 << 4, -1, -1, 0xff, 0]);
    const runs: number[][] = [];
    const visited = readRuns(words, 0, 6 * 32, 0, { record: (p, n) => runs.push([p, n]) }, true);
    expect(runs).toEqual([[32 + 4, 28 + 64 + 8]]);
    expect(visited).toBe(6);
    expect([...words]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('leaves bits set outside the range in a shared edge word (another reader owns them)', () => {
    const words = new Int32Array([-1, -1]);
    readRuns(words, 5, 40, 0, { record: () => {} }, true);
    expect(words[0]).toBe(0b11111);
    expect(words[1]).toBe(-1 << 8);
  });
});

describe('readMasks', () => {
  it('hands over exactly the set bits in range (masks and all-ones runs), each before its bits are cleared', () => {
    fc.assert(
      fc.property(fc.array(wordArb, { minLength: WORDS, maxLength: WORDS }), rangeArb, fc.integer({ min: -1000, max: 1000 }), fc.boolean(), (init, [b0, b1], off, clear) => {
        const words = Int32Array.from(init);
        const before = words.slice();
        const got: number[] = [];
        const early: number[] = [];
        const take = (p: number) => {
          if (bit(words, p) !== 1) early.push(p);
          got.push(p);
        };
        const sink = {
          record(page: number, count: number) {
            expect(count % 32).toBe(0); // only whole all-ones words come as runs
            for (let p = page - off; p < page - off + count; p++) take(p);
          },
          recordMask(page: number, mask: number) {
            expect(mask).not.toBe(0);
            expect(mask).not.toBe(-1);
            for (let j = 0; j < 32; j++) if ((mask >>> j) & 1) take(page - off + j);
          },
        };
        const visited = readMasks(words, b0!, b1!, off, sink, clear);
        expect(early).toEqual([]);
        expect(visited).toBe(b1! > b0! ? Math.floor((b1! - 1) / 32) - Math.floor(b0! / 32) + 1 : 0);
        const want: number[] = [];
        for (let p = b0!; p < b1!; p++) if (bit(before, p)) want.push(p);
        expect(got).toEqual(want);
        const after = Array.from({ length: WORDS * 32 }, (_, p) => bit(words, p));
        expect(after).toEqual(after.map((_, p) => (clear && p >= b0! && p < b1! ? 0 : bit(before, p))));
      }),
      { numRuns: 500 },
    );
  });

  it('merges consecutive all-ones words into one run', () => {
    const words = new Int32Array([0, -1, -1, -1, 0xff, -1]);
    const runs: number[][] = [];
    const masks: number[][] = [];
    readMasks(words, 0, 6 * 32, 0, { record: (p, n) => runs.push([p, n]), recordMask: (p, m) => masks.push([p, m]) }, true);
    expect(runs).toEqual([[32, 96], [160, 32]]);
    expect(masks).toEqual([[128, 0xff]]);
    expect([...words]).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('orBitRun', () => {
  it('sets exactly bits [b0, b1) and keeps every other bit', () => {
    fc.assert(
      fc.property(fc.array(wordArb, { minLength: WORDS, maxLength: WORDS }), rangeArb, (init, [b0, b1]) => {
        fc.pre(b1! > b0!);
        const words = Int32Array.from(init);
        const before = words.slice();
        orBitRun(words, b0!, b1!);
        const after = Array.from({ length: WORDS * 32 }, (_, p) => bit(words, p));
        expect(after).toEqual(after.map((_, p) => (p >= b0! && p < b1! ? 1 : bit(before, p))));
      }),
      { numRuns: 300 },
    );
  });
});
