/**
 * The walk's clean-block skip at the upper levels (packages/core/src/pagetable/upperScanKernels.ts):
 * a 32-entry block of a level-2 table may be skipped only when it holds no table pointer and no
 * dirty leaf (amd-v1: no replica either). A naive prescan that ORs the dirty bits alone skips a
 * block whose only busy entry is a sub-table full of dirty 4 KiB pages (a table pointer's bits at
 * the dirty position mean nothing); these tests build that case per format, against the model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { codecOf } from '@iovabitmap/core/internal';
import { IoPageTable, LeafModel, PTE_FORMATS, bitRuns, bitsOfPageRuns, type PteFormat } from './helpers/pagetableHelpers.js';
import { GIB, KIB, MIB } from '../helpers/sizes.js';

const E = 2 * MIB; // one level-2 entry
const PAGES_PER_ENTRY = E / 4096;

/**
 * One level-2 table (1 GiB, entries of 2 MiB) of 2 MiB leaves, except: sub-tables of 4 KiB leaves
 * (or 64 KiB replicated ones in amd-v1) among clean 2 MiB leaves in block 0, the only busy entry
 * of block 1 a sub-table, a 4 MiB replicated page in block 0 and a 128 MiB one across blocks 2-3
 * (amd-v1), and a sub-table at the table's last entry. Dirty: 4 KiB pages below the sub-tables, a
 * replica of the 128 MiB page in block 3 only, one 2 MiB leaf in block 5.
 */
function mixedTable(format: PteFormat) {
  const pt = new IoPageTable({ format });
  const model = new LeafModel();
  const amd = format === 'amd-v1';
  /** Entry index -> leaf size mapped over it (default 2 MiB). */
  const special = new Map<number, number>([
    [5, 4 * KIB],
    [10, 4 * KIB], // a clean sub-table
    [11, amd ? 64 * KIB : 4 * KIB],
    [40, 4 * KIB], // block 1: its only busy entry
    [511, 4 * KIB], // the last block's last entry
  ]);
  const big = new Map<number, [number, number]>(amd ? [[12, [4 * MIB, 2]], [64, [128 * MIB, 64]]] : []);
  for (let i = 0; i < 512; ) {
    const [leaf, entries] = big.get(i) ?? [special.get(i) ?? E, 1];
    pt.map(i * E, entries * E, { leaf });
    model.map(i * PAGES_PER_ENTRY, (i + entries) * PAGES_PER_ENTRY, leaf / 4096, true);
    i += entries;
  }
  pt.setDirtyTracking(true);
  model.tracking = true;
  const writes = [5 * E + 7 * 4096, 11 * E + 300 * 4096, 40 * E + 511 * 4096, 511 * E + 4096, 100 * E + 9, 170 * E + 1];
  for (const x of writes) expect(pt.dmaWrite(x, 1)).toBe(model.write(Math.floor(x / 4096), Math.floor(x / 4096) + 1));
  return { pt, model };
}

/** Reports [0, 1 GiB) chunk by chunk at `cuts` (4 KiB pages) and checks the bitmap and what is left. */
function reportInChunks(format: PteFormat, cuts: readonly number[], noClear: boolean): void {
  const { pt, model } = mixedTable(format);
  const end = GIB / 4096;
  const bm = new IovaBitmap({ iova: 0, length: GIB, pageSize: 4096 });
  const edges = [...new Set([0, end, ...cuts])].sort((a, b) => a - b);
  pt.checkReport(bm, 0n, BigInt(GIB), { noClear });
  for (let i = 0; i + 1 < edges.length; i++) {
    pt.reportChunk(bm, { chunkLo: BigInt(edges[i]! * 4096), chunkHi: BigInt(edges[i + 1]! * 4096), clipLo: 0n, clipHi: BigInt(GIB) }, { noClear });
  }
  expect(bitRuns(bm), `${format} cuts ${cuts.join(',')}`).toEqual(bitsOfPageRuns(bm, model.report(0, end, noClear)));
  const left = new IovaBitmap({ iova: 0, length: GIB, pageSize: 4096 });
  pt.readAndClearDirty(left, 0, GIB, { noClear: true });
  expect(bitRuns(left)).toEqual(bitsOfPageRuns(left, model.report(0, end, true)));
}

describe.each(PTE_FORMATS)('the %s walk of a level-2 table that mixes 2 MiB leaves and sub-tables', (format) => {
  it('finds the dirty 4 KiB pages under sub-tables in blocks of clean 2 MiB leaves, in one report', () => {
    reportInChunks(format, [], false);
  });

  it('finds them with chunk edges inside the blocks and inside the replicated pages, with and without clear', () => {
    const P = PAGES_PER_ENTRY;
    const cuts = [5 * P + 3, 11 * P, 20 * P, 40 * P + 1, 64 * P + 17, 100 * P, 300 * P, 511 * P + 1];
    reportInChunks(format, cuts, true);
    reportInChunks(format, cuts, false);
  });

  it('never calls a block skippable that holds a table pointer, a dirty leaf or a replica (any word)', () => {
    const codec = codecOf(format)!;
    const scratch = new Uint32Array(2);
    codec.writeTable(scratch, 0, 2, 1);
    const TABLE = codec.classify(scratch[0]!, scratch[1]!, 2);
    const ABSENT = codec.classify(0, 0, 2);
    const none = codec.cleanBlockNone;
    const all = codec.cleanBlockAll;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 2, max: 5 }), (lo, hi, level) => {
        // The block test on a block of one entry (OR and AND of one word are the word).
        if (((lo & none) | ((lo & all) ^ all)) !== 0) return;
        const kind = codec.classify(lo, hi, level);
        expect(kind).not.toBe(TABLE);
        if (kind !== ABSENT) expect([codec.replicas(lo, hi, level), codec.isDirty(lo)]).toEqual([1, false]);
      }),
      { numRuns: 20000 },
    );
    // And every word the codec writes: table pointers at each level are never skippable.
    for (let level = 2; level <= 5; level++) {
      for (const id of [1, 0x7fff, 2 ** 30 + 5]) {
        codec.writeTable(scratch, 0, level, id);
        expect(((scratch[0]! & none) | ((scratch[0]! & all) ^ all)) !== 0).toBe(true);
      }
    }
  });
});
