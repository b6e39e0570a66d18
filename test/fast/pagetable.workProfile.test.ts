/**
 * IoPageTable.workProfile (what a walk of a range reads, for the engine's chunk sizing) and
 * IoPageTable.leafAt (the leaf that maps an IOVA, for the migration checker's widening), against a
 * simple model: a list of mapped leaves.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IoPageTable, VfTracker } from '@iovabitmap/core';
import { GiB, KiB, MiB } from '../helpers/sizes.js';


describe('IoPageTable.workProfile', () => {
  it('counts leaf-level entries and the densest entries per 4 KiB page of a mixed mapping', () => {
    const pt = new IoPageTable({ format: 'vtd-ss' });
    pt.map(0n, 2n * GiB, { leaf: GiB });
    pt.map(2n * GiB, 64n * MiB, { leaf: 2n * MiB });
    pt.map(2n * GiB + 64n * MiB, 8n * MiB, { leaf: 4n * KiB });
    expect(pt.workProfile(0n, 4n * GiB)).toEqual({ entries: 2 + 32 + 2048, peakEntriesPerPage: 1, unitShift: 12 });
    expect(pt.workProfile(0n, 2n * GiB)).toEqual({ entries: 2, peakEntriesPerPage: 2 ** -18, unitShift: 12 });
    expect(pt.workProfile(2n * GiB, 64n * MiB)).toEqual({ entries: 32, peakEntriesPerPage: 1 / 512, unitShift: 12 });
    expect(pt.workProfile(3n * GiB, GiB)).toEqual({ entries: 0, peakEntriesPerPage: 0, unitShift: 12 });
    pt.unmap(2n * GiB + 64n * MiB + 4n * MiB, 4n * KiB); // split the 4 KiB run
    expect(pt.workProfile(0n, 4n * GiB)?.entries).toBe(2 + 32 + 2047);
    expect(IoPageTable.fromShared(pt.share()).workProfile(0n, 4n * GiB)).toBeUndefined(); // owner only
  });

  it('counts replicated amd-v1 pages by their replicas (the entries a walk reads)', () => {
    const pt = new IoPageTable({ format: 'amd-v1' });
    pt.map(0n, 4n * MiB, { leaf: 64n * KiB }); // 16 level-1 replicas per leaf
    pt.map(4n * MiB, 8n * MiB, { leaf: 4n * MiB }); // 2 level-2 replicas per leaf
    expect(pt.workProfile(0n, 12n * MiB)).toEqual({ entries: 1024 + 4, peakEntriesPerPage: 1, unitShift: 12 });
  });

  it('agrees with a model over random maps and unmaps', () => {
    const leaves = [4n * KiB, 2n * MiB, GiB];
    const span = (leaf: bigint) => (leaf === GiB ? 2 ** 18 : leaf === 2n * MiB ? 512 : 1); // pages per entry
    fc.assert(
      fc.property(
        fc.array(fc.record({ slot: fc.nat({ max: 15 }), leaf: fc.nat({ max: 2 }), count: fc.integer({ min: 1, max: 3 }), unmap: fc.boolean() }), { maxLength: 25 }),
        fc.nat({ max: 15 }),
        fc.integer({ min: 1, max: 16 }),
        (ops, q0, qn) => {
          // 16 slots of 1 GiB; a slot holds one mapping of `count` leaves at its start, or nothing.
          const pt = new IoPageTable({ format: 'vtd-ss' });
          const model = new Map<number, { leaf: bigint; count: number }>();
          for (const op of ops) {
            const at = BigInt(op.slot) * GiB;
            const cur = model.get(op.slot);
            if (op.unmap) {
              if (cur) pt.unmap(at, cur.leaf * BigInt(cur.count));
              model.delete(op.slot);
            } else if (!cur) {
              const leaf = leaves[op.leaf]!;
              const count = leaf === GiB ? 1 : op.count;
              pt.map(at, leaf * BigInt(count), { leaf });
              model.set(op.slot, { leaf, count });
            }
          }
          const lo = BigInt(q0) * GiB;
          const hi = BigInt(Math.min(16, q0 + qn)) * GiB;
          let entries = 0;
          let peak = 0;
          for (const [slot, m] of model) {
            if (BigInt(slot) * GiB < lo || BigInt(slot) * GiB >= hi) continue;
            entries += m.count * (Number(m.leaf / 4096n) / span(m.leaf));
            peak = Math.max(peak, 1 / span(m.leaf));
          }
          expect(pt.workProfile(lo, hi - lo)).toEqual({ entries, peakEntriesPerPage: peak, unitShift: 12 });
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('IoPageTable.leafAt', () => {
  it('finds the leaf that maps an IOVA, on the owner and on a view', () => {
    const pt = new IoPageTable({ format: 'amd-v1', levels: 5 });
    pt.map(GiB, GiB, { leaf: GiB });
    pt.map(2n * GiB, 2n * MiB, { leaf: 2n * MiB });
    pt.map(2n * GiB + 2n * MiB, 64n * KiB, { leaf: 64n * KiB });
    pt.map(2n * GiB + 4n * MiB, 4n * KiB, { leaf: 4n * KiB });
    const view = IoPageTable.fromShared(pt.share());
    for (const t of [pt, view]) {
      expect(t.leafAt(GiB + 12345n)).toEqual({ iova: GiB, size: GiB });
      expect(t.leafAt(2n * GiB + MiB)).toEqual({ iova: 2n * GiB, size: 2n * MiB });
      expect(t.leafAt(2n * GiB + 2n * MiB + 40000n)).toEqual({ iova: 2n * GiB + 2n * MiB, size: 64n * KiB });
      expect(t.leafAt(2n * GiB + 4n * MiB + 4095n)).toEqual({ iova: 2n * GiB + 4n * MiB, size: 4n * KiB });
      expect(t.leafAt(2n * GiB + 4n * MiB + 4096n)).toBeUndefined();
      expect(t.leafAt(0n)).toBeUndefined();
      expect(t.leafAt((1n << 64n) - 1n)).toBeUndefined(); // beyond the 57-bit table
    }
    expect(() => pt.leafAt(-1n)).toThrow(expect.objectContaining({ code: 'EINVAL', param: 'iova' }));
  });
});

describe('VfTracker.workProfile', () => {
  it('counts the record words (32 tracker pages each) of the tracked ranges inside the range', () => {
    const t = new VfTracker({ maxRanges: 4 });
    expect(t.workProfile(0n, GiB)).toBeUndefined();
    t.start({ ranges: [{ iova: 0n, length: 64n * MiB }, { iova: GiB, length: 16n * MiB }], pageSize: 16n * KiB });
    const perPage = 0.25 / 32; // a 16 KiB tracker page per four 4 KiB pages, 32 pages per word
    expect(t.workProfile(0n, 2n * GiB)).toEqual({ entries: (4096 + 1024) / 32, peakEntriesPerPage: perPage, unitShift: 14 });
    expect(t.workProfile(32n * MiB, GiB)).toEqual({ entries: (2048 + 1024) / 32, peakEntriesPerPage: perPage, unitShift: 14 }); // reaches into the second range
    expect(t.workProfile(32n * MiB, 512n * MiB)).toEqual({ entries: 2048 / 32, peakEntriesPerPage: perPage, unitShift: 14 });
    expect(t.workProfile(32n * MiB + 16n * KiB, 16n * KiB)).toEqual({ entries: 1, peakEntriesPerPage: perPage, unitShift: 14 }); // one page: a word is read
    expect(t.workProfile(512n * MiB, 256n * MiB)).toEqual({ entries: 0, peakEntriesPerPage: 0, unitShift: 14 });
  });
});
