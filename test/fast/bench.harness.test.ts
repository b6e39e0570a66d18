/**
 * The pure parts of the benchmark harness, each against an independent model: the dirty placement
 * (runs, counts, determinism), the per-bit-atomic writer (the naive per-page bitmap model of
 * ./helpers/bitModel.ts), the read-limit kernel (a plain loop), the scenario matrix and filter,
 * and the derived metrics (arithmetic redone by hand).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IovaBitmap, IovaBitmapError } from '@iovabitmap/core';
import { buildMatrix, type Scenario } from '@iovabitmap/bench';
import { BENCH_SPACES, PerBitAtomicBitmap, applyFilter, defaultThreadCounts, deriveRecords, orReduceLowWords, placeDirty, type Measurement } from '@iovabitmap/bench/internal';
import { applyOp, BitModel, describeMismatch, expectedBuffer, geometryArb, makeArena, opArb, showOp } from './helpers/bitModel.js';
import { rejection } from '../helpers/rejection.js';
import { firstDiff } from '../helpers/bitmaps.js';

describe('placeDirty', () => {
  const runsOf = (n: number, d: number, p: 'uniform' | 'clustered', seed: number) => {
    const runs: [number, number][] = [];
    const count = placeDirty(n, d, p, seed, (a, c) => runs.push([a, c]));
    return { runs, count };
  };

  it('emits sorted, disjoint, non-adjacent runs inside [0, n) whose lengths add up to the count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom('uniform' as const, 'clustered' as const),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (n, d, p, seed) => {
          const { runs, count } = runsOf(n, d, p, seed);
          let total = 0;
          let prevEnd = -1;
          for (const [a, c] of runs) {
            expect(c).toBeGreaterThan(0);
            expect(a).toBeGreaterThan(prevEnd); // strictly after the previous end: disjoint and not adjacent
            expect(a + c).toBeLessThanOrEqual(n);
            prevEnd = a + c;
            total += c;
          }
          expect(total).toBe(count);
        },
      ),
    );
  });

  it('marks nothing at 0%, everything at 100%, and the same runs for the same seed', () => {
    expect(runsOf(1000, 0, 'uniform', 1)).toEqual({ runs: [], count: 0 });
    expect(runsOf(1000, 1, 'clustered', 1)).toEqual({ runs: [[0, 1000]], count: 1000 });
    expect(runsOf(10_000, 0.3, 'clustered', 7)).toEqual(runsOf(10_000, 0.3, 'clustered', 7));
    expect(runsOf(10_000, 0.3, 'uniform', 7)).not.toEqual(runsOf(10_000, 0.3, 'uniform', 8));
  });

  it('reaches the requested density on large n (fixed seeds)', () => {
    for (const d of [0.01, 0.5]) {
      for (const p of ['uniform', 'clustered'] as const) {
        const n = 1 << 24; // ~2600 clusters at 1%: a 10% deviation is over 4 standard deviations
        const count = placeDirty(n, d, p, 42, () => {});
        expect(Math.abs(count / n - d), `${p} ${d}`).toBeLessThan(d * 0.1);
      }
    }
  });

  it('clusters: the clustered pattern has far fewer, longer runs than the uniform one', () => {
    const u = runsOf(1 << 18, 0.1, 'uniform', 3);
    const c = runsOf(1 << 18, 0.1, 'clustered', 3);
    expect(c.count / c.runs.length).toBeGreaterThan(20);
    expect(u.count / u.runs.length).toBeLessThan(1.5);
  });

  it('rejects a density outside [0, 1]', () => {
    expect(() => placeDirty(10, 1.5, 'uniform', 1, () => {})).toThrow(/density/);
  });
});

describe('PerBitAtomicBitmap', () => {
  it('sets exactly the bits the per-page model sets, touches no guard bit, and counts every bit it wrote', () => {
    fc.assert(
      fc.property(
        geometryArb(2000).chain((g) =>
          fc.record({
            g: fc.constant(g),
            byteOffset: fc.integer({ min: 0, max: 64 }),
            seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
            ops: fc.array(opArb(g), { minLength: 1, maxLength: 12 }),
          }),
        ),
        (c) => {
          const arena = makeArena(c.g.nbits, c.byteOffset, 4, c.seed);
          const bitmap = new PerBitAtomicBitmap({ iova: c.g.iova, length: c.g.length, pageSize: c.g.pageSize, buffer: arena.buffer, byteOffset: c.byteOffset });
          const model = new BitModel(c.g.iova, c.g.length, c.g.pageSize);
          const bytes = new Uint8Array(arena.buffer);
          for (const op of c.ops) {
            const before = model.count();
            const writes = bitmap.perBitWrites;
            applyOp(bitmap, op);
            applyOp(model, op);
            const want = expectedBuffer(arena, model);
            if (firstDiff(bytes, want) >= 0) throw new Error(`after ${showOp(op)}: ${describeMismatch(arena, bytes, want)}`);
            if (op.kind !== 'clear') expect(bitmap.perBitWrites - writes).toBeGreaterThanOrEqual(model.count() - before);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects the values IovaBitmap rejects, with the same code, and writes nothing', () => {
    const opts = { iova: 0, length: 4096 * 64, pageSize: 4096 };
    const pb = new PerBitAtomicBitmap({ ...opts, buffer: new SharedArrayBuffer(8) });
    const plain = new IovaBitmap({ ...opts, buffer: new SharedArrayBuffer(8) });
    const calls: ((b: IovaBitmap) => void)[] = [
      (b) => b.setBits(Number.NaN, 3),
      (b) => b.setBits(1.5, 3),
      (b) => b.orMask(0.5, 1),
      (b) => b.setUnits(-1, 1, 12),
      (b) => b.setUnits(1, 2 ** 53, 12),
      (b) => b.setUnits(1, 1, 64),
      (b) => b.set(-1n, 1n),
      (b) => b.set(0n, 2n ** 64n),
    ];
    for (const call of calls) {
      expect(rejection(() => call(pb)).code, String(call)).toBe(rejection(() => call(plain)).code);
    }
    expect(pb.count()).toBe(0);
    expect(pb.perBitWrites).toBe(0);
  });

  it('refuses a buffer without whole 32-bit words over the bitmap', () => {
    expect(() => new PerBitAtomicBitmap({ iova: 0, length: 4096 * 9, pageSize: 4096, buffer: new SharedArrayBuffer(2) })).toThrow(IovaBitmapError);
  });
});

describe('orReduceLowWords', () => {
  it('is the OR of the low halves of the first n entries', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 200 }), fc.nat(120), (words, n) => {
        const u32 = Uint32Array.from(words);
        let want = 0;
        for (let i = 0; i < Math.min(n, u32.length >>> 1); i++) want |= u32[2 * i]!;
        expect(orReduceLowWords(u32, n) >>> 0).toBe(want >>> 0);
      }),
    );
  });
});

describe('the scenario matrix', () => {
  const formats = ['vtd-ss', 'amd-v1', 'smmu-v3'];

  it('defaults to 1..cores and 2 × cores threads', () => {
    expect(defaultThreadCounts(2)).toEqual([1, 2, 4]);
    expect(defaultThreadCounts(4)).toEqual([1, 2, 3, 4, 8]);
  });

  it('quick: every group, the reference spaces (BENCH_SPACES) in the leaf group, each (workload, impl, threads) listed once per scenario', () => {
    const m = buildMatrix({ cores: 2, formats });
    expect([...new Set(m.map((s) => s.group))]).toEqual(['threads', 'density', 'leaf', 'sources', 'format', 'scale']);
    expect(m.filter((s) => s.group === 'leaf').map((s) => s.workload.iovaBytes)).toEqual(BENCH_SPACES.map((s) => s.iovaBytes));
    expect(m.find((s) => s.group === 'threads')!.runs.filter((r) => r.impl === 'engine').map((r) => r.threads)).toEqual([1, 2, 4]);
    expect(m.filter((s) => s.group === 'density').map((s) => s.workload.density)).toEqual([0, 0.01, 0.5, 1]);
    for (const s of m) {
      const cells = s.runs.map((r) => `${r.impl}${r.threads}`);
      expect(new Set(cells).size).toBe(cells.length);
    }
    expect(new Set(m.map((s) => s.id)).size).toBe(m.length);
    // the baseline workload is shared by several groups: one key
    const base = m.filter((s) => s.workloadKey === m[0]!.workloadKey);
    expect(base.map((s) => s.group)).toEqual(['threads', 'density', 'leaf', 'sources', 'format', 'scale']);
  });

  it('full: both patterns and every space in the density group', () => {
    const m = buildMatrix({ cores: 2, formats, full: true });
    const density = m.filter((s) => s.group === 'density');
    expect(density).toHaveLength(3 * 2 * 4);
    expect(density.every((s) => s.runs.filter((r) => r.impl === 'engine').length === 3)).toBe(true);
  });

  it('filters by substring or /regex/ on "id impl", and refuses a bad regex', () => {
    const all = buildMatrix({ cores: 2, formats });
    const seq = applyFilter(all, 'sequential');
    expect(seq.every((s) => s.runs.every((r) => r.impl === 'sequential'))).toBe(true);
    expect(seq.length).toBeGreaterThan(0);
    const dens = applyFilter(all, '/^density\\/.*50%/');
    expect(dens.map((s) => s.id)).toEqual(['density/64GiB@4KiB/50%/uniform/iommu/vtd-ss']);
    expect(applyFilter(all, 'no such cell')).toEqual([]);
    expect(() => applyFilter(all, '/(/')).toThrow(/filter/);
  });
});

describe('deriveRecords', () => {
  const scenario: Scenario = {
    id: 'g/x',
    group: 'g',
    workloadKey: 'x',
    workload: { iovaBytes: 64n << 30n, leafBytes: 4096n, density: 0.01, pattern: 'uniform', source: 'iommu', format: 'vtd-ss', seed: 1 },
    runs: [],
  };
  const facts = { leafEntries: 1 << 24, dirtyUnits: 10, bitsExpected: 10, trackerPageBytes: null, bitmapPageBytes: 4096n };
  const m = (impl: Measurement['impl'], threads: number, medianMs: number): Measurement => ({ impl, threads, medianMs, medianCallMs: medianMs + 1, rme: 1, samples: 5, samplesMs: [medianMs] });

  it('computes ns/PTE, GiB/s and the ratios from medians of the same scenario', () => {
    const [e1, e2, seq, pb, rl] = deriveRecords(scenario, facts, [m('engine', 1, 44), m('engine', 2, 22), m('sequential', 1, 40), m('per-bit-atomic', 1, 80), m('read-limit', 1, 8)]);
    expect(e2!.nsPerPte).toBeCloseTo((22 * 1e6) / 2 ** 24, 12);
    expect(e2!.gibPerSec).toBeCloseTo(64 / 0.022, 9);
    expect(e1!.speedupVs1Thread).toBe(1);
    expect(e2!.speedupVs1Thread).toBe(2);
    expect(seq!.speedupVs1Thread).toBeNull();
    expect(e2!.speedupVsSequential).toBeCloseTo(40 / 22, 12);
    expect(pb!.speedupVsSequential).toBe(0.5);
    expect(e2!.pctOfReadLimit).toBeCloseTo((8 / 22) * 100, 12);
    expect(rl!.pctOfReadLimit).toBeNull();
    expect(e1!.poolOverheadPct).toBeCloseTo(10, 12);
    expect(e2!.poolOverheadPct).toBeNull();
    expect(seq!.poolOverheadPct).toBeNull();
    expect(e1!.format).toBe('vtd-ss');
    expect(e1!.leafBytes).toBe(4096n);
  });

  it('flags a density that placed no dirty unit and leaves that cell out of every ratio; flags a noisy cell', () => {
    const none = deriveRecords(scenario, { ...facts, dirtyUnits: 0, bitsExpected: 0 }, [m('engine', 1, 44), m('sequential', 1, 40), m('read-limit', 1, 8)]);
    for (const r of none) {
      expect(r.flags).toEqual(['no-dirty-units']);
      expect([r.speedupVs1Thread, r.speedupVsSequential, r.pctOfReadLimit, r.poolOverheadPct]).toEqual([null, null, null, null]);
    }
    // A density of 0 asked for nothing: no flag, ratios as usual.
    const clean = deriveRecords({ ...scenario, workload: { ...scenario.workload, density: 0 } }, { ...facts, dirtyUnits: 0 }, [m('engine', 1, 44), m('sequential', 1, 40)]);
    expect(clean[0]!.flags).toEqual([]);
    expect(clean[0]!.speedupVsSequential).toBeCloseTo(40 / 44, 12);
    const [noisy] = deriveRecords(scenario, facts, [{ ...m('engine', 1, 44), rme: 31 }]);
    expect(noisy!.flags).toEqual(['noisy']);
  });

  it('leaves a ratio null when its reference was not measured', () => {
    const [e2] = deriveRecords(scenario, facts, [m('engine', 2, 22)]);
    expect(e2!.speedupVs1Thread).toBeNull();
    expect(e2!.speedupVsSequential).toBeNull();
    expect(e2!.pctOfReadLimit).toBeNull();
  });
});
