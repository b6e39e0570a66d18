/**
 * The walk's fast paths at their edges, against the model (./helpers/pagetableHelpers.ts):
 * - the 4 KiB-leaf block kernel as its block state changes (clean, partly and wholly dirty blocks
 *   in any order), with the sink writing straight into the bitmap's words or through `orMask`:
 *   masks at the bitmap's first and last word, aligned to a word or not, a report range that cuts
 *   blocks, chunk edges anywhere, bitmaps of 2, 4 and 8 KiB pages, every guard byte around the
 *   bitmap kept;
 * - huge leaves: the dirty bit is tested first, replica groups only where replicas exist (amd-v1
 *   replicated sizes), clean and dirty, cut by chunk and clip edges.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { HookedBitmap, IoPageTable, LeafModel, PTE_FORMATS, bitRuns, bitsOfPageRuns, type PteFormat } from './helpers/pagetableHelpers.js';
import { GIB, GiB, KIB, MIB, MiB } from '../helpers/sizes.js';

/** WebAssembly.Memory (the test types have no DOM lib). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new () => object } }).WebAssembly.Memory;

const GUARD = 0xa5;
const TABLE_PAGES = 4096; // 8 leaf tables, 128 blocks of 32 entries

/** How the entries of one 32-entry block are dirtied. */
type BlockKind = 'clean' | 'full' | 'holey' | 'first' | 'last' | 'half';
const BLOCK_KINDS: readonly BlockKind[] = ['clean', 'full', 'holey', 'first', 'last', 'half'];

function dirtyIn(kind: BlockKind, j: number, salt: number): boolean {
  switch (kind) {
    case 'clean':
      return false;
    case 'full':
      return true;
    case 'holey':
      return j !== salt % 32;
    case 'first':
      return j === 0;
    case 'last':
      return j === 31;
    case 'half':
      return ((salt >>> j) & 1) === 1;
  }
}

/** A table of 4 KiB leaves over pages [0, TABLE_PAGES) dirtied block by block, and its model. */
function denseTable(format: PteFormat, blocks: readonly BlockKind[], salt: number) {
  const pt = new IoPageTable({ format });
  const model = new LeafModel();
  pt.map(0, TABLE_PAGES * 4096, { leaf: 4096 });
  model.map(0, TABLE_PAGES, 1, true);
  pt.setDirtyTracking(true);
  model.tracking = true;
  for (let p = 0; p < TABLE_PAGES; p++) {
    const kind = blocks[(p >>> 5) % blocks.length]!;
    if (dirtyIn(kind, p & 31, salt + (p >>> 5))) {
      pt.dmaWritePages(p, 1);
      model.leaves[p]!.dirty = true; // model.write(p, p + 1), without its search of every leaf
    }
  }
  return { pt, model };
}

/**
 * A bitmap of pages [firstPage, firstPage + units * pageSize / 4096) in a buffer full of guard
 * bytes: shared memory (masks go in with Atomics.or), or plain memory (with `|=`).
 */
function guardedBitmap(firstPage: number, units: number, pageSize: number, byteOffset: number, tail: number, plain = false) {
  const iova = BigInt(firstPage) * 4096n;
  const length = BigInt(units) * BigInt(pageSize);
  const bytes = IovaBitmap.bytesFor(length, pageSize);
  const buffer = plain ? new ArrayBuffer(byteOffset + bytes + tail) : new SharedArrayBuffer(byteOffset + bytes + tail);
  new Uint8Array(buffer).fill(GUARD);
  const bm = new IovaBitmap({ iova, length, pageSize, buffer, byteOffset });
  bm.clear(); // the bitmap's bits only: the unused bits of its last byte keep the guard
  return bm;
}

/** Every byte of the buffer outside the bitmap's bits still holds the guard pattern. */
function guardsKept(bm: IovaBitmap): boolean {
  const all = new Uint8Array(bm.buffer);
  for (let i = 0; i < all.length; i++) {
    if (i >= bm.byteOffset && i < bm.byteOffset + bm.byteLength) continue;
    if (all[i] !== GUARD) return false;
  }
  const used = bm.nbits % 8;
  const last = all[bm.byteOffset + bm.byteLength - 1]!;
  return used === 0 || last >>> used === GUARD >>> used;
}

/** The dirty pages left in the table, as runs (a NO_CLEAR report of everything). */
function leftDirty(pt: IoPageTable): [number, number][] {
  const bm = new IovaBitmap({ iova: 0, length: TABLE_PAGES * 4096, pageSize: 4096 });
  pt.readAndClearDirty(bm, 0, TABLE_PAGES * 4096, { noClear: true });
  return bitRuns(bm);
}

interface DenseCase {
  format: PteFormat;
  blocks: readonly BlockKind[];
  salt: number;
  /** Report range, 4 KiB pages. */
  a: number;
  b: number;
  /** Bitmap: first 4 KiB page, page size, byte offset, guard bytes after it. */
  bmFirst: number;
  pageSize: number;
  byteOffset: number;
  tail: number;
  /** Chunk edges in 4 KiB pages (reported chunk by chunk when non-empty). */
  cuts: readonly number[];
  noClear: boolean;
  /** The bitmap in a plain ArrayBuffer rather than a SharedArrayBuffer. */
  plain?: boolean;
  /**
   * A bitmap over fresh memory of at least 2^19 pages (64 KiB: a WebAssembly memory, whose masks
   * the walk ORs in WebAssembly), rather than a guarded buffer of the caller's.
   */
  fresh?: boolean;
}

/** A fresh bitmap from `firstPage` of at least `units` units and 64 KiB: WebAssembly memory. */
function freshBitmap(firstPage: number, units: number, pageSize: number): IovaBitmap {
  const length = BigInt(Math.max(units, 2 ** 19) * pageSize);
  const bm = new IovaBitmap({ iova: BigInt(firstPage) * 4096n, length, pageSize });
  expect(bm.share().memory).toBeInstanceOf(WasmMemory);
  return bm;
}

/** Runs one case; returns the bitmap for further checks. */
function checkDense(c: DenseCase): IovaBitmap {
  const { pt, model } = denseTable(c.format, c.blocks, c.salt);
  const unitPages = c.pageSize / 4096;
  const endPage = Math.max(c.b, TABLE_PAGES);
  const units = unitPages >= 1 ? Math.ceil((endPage - c.bmFirst) / unitPages) : (endPage - c.bmFirst) * (4096 / c.pageSize);
  const bm = c.fresh ? freshBitmap(c.bmFirst, units, c.pageSize) : guardedBitmap(c.bmFirst, units, c.pageSize, c.byteOffset, c.tail, c.plain);
  const lo = BigInt(c.a) * 4096n;
  const hi = BigInt(c.b) * 4096n;
  if (c.cuts.length === 0) {
    pt.readAndClearDirty(bm, lo, hi - lo, { noClear: c.noClear });
  } else {
    pt.checkReport(bm, lo, hi - lo, { noClear: c.noClear });
    const edges = [...new Set([c.a, c.b, ...c.cuts.filter((x) => x > c.a && x < c.b)])].sort((x, y) => x - y);
    for (let i = 0; i + 1 < edges.length; i++) {
      pt.reportChunk(bm, { chunkLo: BigInt(edges[i]!) * 4096n, chunkHi: BigInt(edges[i + 1]!) * 4096n, clipLo: lo, clipHi: hi }, { noClear: c.noClear });
    }
  }
  const what = JSON.stringify({ ...c, blocks: c.blocks.join(',') });
  expect(bitRuns(bm), what).toEqual(bitsOfPageRuns(bm, model.report(c.a, c.b, c.noClear)));
  if (c.fresh) expect(new Uint8Array(bm.buffer, bm.byteLength).every((x) => x === 0), what).toBe(true);
  else expect(guardsKept(bm), what).toBe(true);
  expect(leftDirty(pt), what).toEqual(model.report(0, TABLE_PAGES, true));
  return bm;
}

/** Per 3 leaf tables (48 blocks): one dirty entry in the first, none in the second, one in the third. */
const SPARSE_TABLES: BlockKind[] = ['first', ...Array<BlockKind>(31).fill('clean'), 'last', ...Array<BlockKind>(15).fill('clean')];
const ALL_KINDS_TWICE: BlockKind[] = ['full', 'full', 'clean', 'full', 'holey', 'full', 'half', 'half', 'first', 'last', 'full', 'clean', 'last', 'first', 'holey', 'holey'];

describe.each(PTE_FORMATS)('the %s 4 KiB-leaf block kernel and its sink', (format) => {
  const base: DenseCase = { format, blocks: ALL_KINDS_TWICE, salt: 0x1234567, a: 0, b: TABLE_PAGES, bmFirst: 0, pageSize: 4096, byteOffset: 0, tail: 0, cuts: [], noClear: false };

  it('records every block state in any order, each mask one word of an aligned bitmap', () => {
    for (const blocks of [['clean'], ['full'], ['holey'], ['half'], ALL_KINDS_TWICE, ['full', 'full', 'full', 'half'], ['first', 'full', 'last']] as BlockKind[][]) {
      checkDense({ ...base, blocks });
      checkDense({ ...base, blocks, noClear: true });
    }
  });

  it('records straight into the words of shared, plain and WebAssembly memory, a leaf table\'s 16 words across two summary blocks or not', () => {
    // A bitmap from page 32 k: leaf table t (pages 512 t ..) fills words 16 t - k .. 16 t - k + 15,
    // which straddle two 16-word summary blocks unless k is a multiple of 16; table 0 then starts
    // before the bitmap (its pairs take the clipping path). Ends short of a table too.
    for (const memory of [{}, { plain: true }, { fresh: true }]) {
      for (const k of [0, 1, 15, 17]) {
        checkDense({ ...base, ...memory, a: 32 * k, bmFirst: 32 * k });
        checkDense({ ...base, ...memory, blocks: ['first', 'clean', 'last'], a: 32 * k, b: TABLE_PAGES - 64, bmFirst: 32 * k, noClear: true });
        // Dirty tables between clean ones: the run of summary blocks the sink builds breaks.
        checkDense({ ...base, ...memory, blocks: SPARSE_TABLES, a: 32 * k, bmFirst: 32 * k });
      }
    }
  });

  it('clips masks at the bitmap\'s first and last word, aligned to a word or not', () => {
    // First page 40 at byte offset 1: page 40 is absolute bit 8, so masks stay word-aligned but
    // the first word holds 8 guard bits, and the last word is cut too (the range ends 7 pages
    // short of a block, one guard byte after).
    checkDense({ ...base, blocks: ['full'], a: 40, b: TABLE_PAGES - 7, bmFirst: 40, byteOffset: 1, tail: 1 });
    checkDense({ ...base, a: 40, b: TABLE_PAGES - 7, bmFirst: 40, byteOffset: 1, tail: 1 });
    // Word-aligned bitmaps whose first or last word is cut by the bitmap's own length.
    checkDense({ ...base, blocks: ['full'], a: 32, b: 32 * 9 + 5, bmFirst: 32, tail: 3 });
    checkDense({ ...base, blocks: ['full'], a: 0, b: 17, tail: 2 });
    // Not word-aligned: every mask straddles two words (byte offsets 1..3 with page 0 at bit 0).
    for (const byteOffset of [1, 2, 3, 6]) {
      checkDense({ ...base, blocks: ['full'], byteOffset, tail: 2 });
      checkDense({ ...base, byteOffset, a: 5, b: TABLE_PAGES - 3, tail: 1 });
    }
  });

  it('never writes outside the bitmap, even for a chunk whose clip range runs past it', () => {
    // reportChunk trusts its caller (checkReport is not run): masks of pages outside the bitmap
    // reach the sink, which must clip them at the bitmap's first and last bit. Page 40 at byte
    // offset 1 or 5 is bit 8 or 40 of the buffer: masks map onto words (the direct path); at byte
    // offset 4 they straddle two.
    for (const byteOffset of [1, 4, 5]) {
      const { pt } = denseTable(format, ['full'], 0);
      const first = 40;
      const units = 100;
      const bm = guardedBitmap(first, units, 4096, byteOffset, 1);
      const clip = { clipLo: 0n, clipHi: BigInt(TABLE_PAGES) * 4096n };
      pt.reportChunk(bm, { chunkLo: 0n, chunkHi: clip.clipHi, ...clip });
      expect(guardsKept(bm), `byteOffset ${byteOffset}`).toBe(true);
      expect(bitRuns(bm)).toEqual([[0, units]]);
    }
  });

  it('masks the blocks a report range cuts, in a larger bitmap, whole or chunk by chunk', () => {
    for (const blocks of [['full'], ALL_KINDS_TWICE] as BlockKind[][]) {
      checkDense({ ...base, blocks, a: 37, b: TABLE_PAGES - 45 });
      checkDense({ ...base, blocks, a: 37, b: 37 + 20 }); // inside one block
      checkDense({ ...base, blocks, a: 1, b: TABLE_PAGES - 1, cuts: [31, 33, 64, 100, 511, 512, 513, 1000, 2049] });
      checkDense({ ...base, blocks, a: 37, b: TABLE_PAGES - 45, byteOffset: 2, cuts: [40, 95, 96, 1024 + 17] });
    }
  });

  it('writes runs into bitmaps of 2 KiB and 8 KiB pages', () => {
    for (const pageSize of [2048, 8192]) {
      for (const blocks of [['full'], ['half'], ALL_KINDS_TWICE] as BlockKind[][]) {
        checkDense({ ...base, blocks, pageSize });
        checkDense({ ...base, blocks, pageSize, a: 38, b: TABLE_PAGES - 46, byteOffset: 3, tail: 1, cuts: [64, 65, 777] });
      }
    }
  });

  it('hands every mask to a bitmap that overrides orMask (no write goes around it)', () => {
    const { pt, model } = denseTable(format, ALL_KINDS_TWICE, 99);
    const bm = new HookedBitmap({ iova: 0, length: TABLE_PAGES * 4096, pageSize: 4096 });
    let calls = 0;
    bm.hook = () => void calls++;
    pt.readAndClearDirty(bm, 0, TABLE_PAGES * 4096);
    const runs = model.report(0, TABLE_PAGES, false);
    expect(bitRuns(bm)).toEqual(bitsOfPageRuns(bm, runs));
    const dirtyBlocks = new Set(runs.flatMap(([s, e]) => Array.from({ length: e - s }, (_, i) => (s + i) >>> 5)));
    expect(calls).toBe(dirtyBlocks.size);
  });

  it('matches the model for any block pattern, bitmap geometry, range and chunking', () => {
    const caseArb = fc
      .record({
        blocks: fc.array(fc.constantFrom(...BLOCK_KINDS), { minLength: 1, maxLength: 40 }),
        salt: fc.nat(),
        x: fc.nat(),
        y: fc.nat(),
        before: fc.nat({ max: 100 }),
        psi: fc.nat({ max: 2 }),
        byteOffset: fc.nat({ max: 7 }),
        tail: fc.nat({ max: 5 }),
        cuts: fc.array(fc.nat({ max: TABLE_PAGES }), { maxLength: 6 }),
        noClear: fc.boolean(),
        memory: fc.constantFrom('shared', 'plain', 'fresh'),
      })
      .map((r): DenseCase => {
        const pageSize = [4096, 2048, 8192][r.psi]!;
        const unit = Math.max(1, pageSize / 4096);
        const a = (r.x % (TABLE_PAGES / unit)) * unit;
        const b = a + (1 + (r.y % ((TABLE_PAGES - a) / unit))) * unit;
        return { format, blocks: r.blocks, salt: r.salt, a, b, bmFirst: Math.max(0, a - r.before * unit), pageSize, byteOffset: r.byteOffset, tail: r.tail, cuts: r.cuts, noClear: r.noClear, plain: r.memory === 'plain', fresh: r.memory === 'fresh' };
      });
    fc.assert(fc.property(caseArb, (c) => void checkDense(c)), { numRuns: 60 });
  });
});

describe.each(PTE_FORMATS)('the %s walk of huge leaves', (format) => {
  const bitmapOver = (iova: bigint, length: bigint) => new IovaBitmap({ iova, length, pageSize: 4096 });
  /** Dirty leaves left in [0, end), holes and all (reportChunk does not check for holes). */
  const dirtyLeft = (pt: IoPageTable, end: bigint) =>
    pt.reportChunk(bitmapOver(0n, end), { chunkLo: 0n, chunkHi: end, clipLo: 0n, clipHi: end }, { noClear: true }).dirtyLeaves;

  it('reads clean huge leaves without recording or clearing anything, counting every entry', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 4 * GIB, { leaf: 2 * MIB });
    pt.setDirtyTracking(true);
    const bm = bitmapOver(0n, 4n * GiB);
    const st = pt.readAndClearDirty(bm, 0, 4 * GIB);
    // Root entry 0, level-3 entries 0..3, four level-2 tables of 512 leaves, and the three
    // entries read down to the clip range's first leaf.
    expect(st).toEqual({ entriesVisited: 1 + 4 + 4 * 512 + 3, dirtyLeaves: 0, bitsMarked: 0 });
    expect(bm.count()).toBe(0);
  });

  it('records a dirty 2 MiB or 1 GiB leaf once, from the chunk that holds its first byte in the clip range', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 8 * MIB, { leaf: 2 * MIB });
    pt.map(GIB, GIB, { leaf: GIB });
    pt.setDirtyTracking(true);
    pt.dmaWrite(MIB, 1); // leaf [0, 2 MiB): cut by the clip range's start
    pt.dmaWrite(3 * MIB, 1); // leaf [2, 4 MiB): cut by a chunk edge
    pt.dmaWrite(GIB + 5, 1); // the 1 GiB leaf: cut by a chunk edge and by the clip range's end
    const clip = { clipLo: MiB, clipHi: GiB + 768n * MiB };
    const bm = bitmapOver(0n, 2n * GiB);
    const edges = [MiB, 3n * MiB, 8n * MiB, GiB + 512n * MiB, clip.clipHi];
    let dirtyLeaves = 0;
    for (let i = 0; i + 1 < edges.length; i++) dirtyLeaves += pt.reportChunk(bm, { chunkLo: edges[i]!, chunkHi: edges[i + 1]!, ...clip }).dirtyLeaves;
    expect(dirtyLeaves).toBe(3);
    expect(bitRuns(bm)).toEqual([
      [256, 1024], // [1 MiB, 4 MiB)
      [GIB / 4096, (GIB + 768 * MIB) / 4096],
    ]);
    expect(dirtyLeft(pt, 2n * GiB)).toBe(0); // all three cleared
  });

  it('stores whole huge leaves straight into shared, plain and WebAssembly memory, and marks their summary blocks', () => {
    // 64 MiB of 2 MiB leaves (a summary block of 512 bytes covers 16 MiB: 8 leaves), then a 1 GiB
    // leaf; dirty: leaves 0 and 3 (one block), 8 (the next), 31 (the last), and the 1 GiB leaf.
    for (const memory of ['shared', 'plain', 'fresh'] as const) {
      const pt = new IoPageTable({ format });
      const model = new LeafModel();
      pt.map(0, 64 * MIB, { leaf: 2 * MIB });
      model.map(0, (64 * MIB) / 4096, 512, true);
      pt.map(GIB, GIB, { leaf: GIB });
      model.map(GIB / 4096, (2 * GIB) / 4096, GIB / 4096, true);
      pt.setDirtyTracking(true);
      model.tracking = true;
      for (const x of [0, 3 * 2 * MIB + 5, 8 * 2 * MIB, 31 * 2 * MIB + 4095, GIB + 7 * MIB]) {
        expect(pt.dmaWrite(x, 1)).toBe(model.write(Math.floor(x / 4096), Math.floor(x / 4096) + 1));
      }
      const length = 2n * GiB;
      const bytes = IovaBitmap.bytesFor(length, 4096);
      const buffer = memory === 'shared' ? new SharedArrayBuffer(bytes) : memory === 'plain' ? new ArrayBuffer(bytes) : undefined;
      const bm = new IovaBitmap({ iova: 0n, length, pageSize: 4096, ...(buffer === undefined ? {} : { buffer }) });
      if (memory === 'fresh') expect(bm.share().memory).toBeInstanceOf(WasmMemory);
      // A chunk edge inside the second block: each chunk records the leaves that start in it.
      const edges = [0n, 20n * MiB, length];
      let bitsMarked = 0;
      for (let i = 0; i + 1 < edges.length; i++) bitsMarked += pt.reportChunk(bm, { chunkLo: edges[i]!, chunkHi: edges[i + 1]!, clipLo: 0n, clipHi: length }).bitsMarked;
      const want = bitsOfPageRuns(bm, model.report(0, (2 * GIB) / 4096, false));
      expect(bitRuns(bm), memory).toEqual(want); // dirtyRanges reads the marked blocks only
      expect(bm.count(), memory).toBe(4 * 512 + GIB / 4096);
      expect(bitsMarked, memory).toBe(4 * 512 + GIB / 4096);
    }
  });

  it.runIf(format === 'amd-v1')('ORs and clears replicas only of replicated pages, beside single-entry ones, across chunk edges', () => {
    const pt = new IoPageTable({ format });
    const model = new LeafModel();
    const layout: [number, number][] = [
      [2 * MIB, 2], // [0, 4 MiB): one entry each
      [4 * MIB, 2], // [4, 12 MiB): 2 replicas each
      [2 * MIB, 2], // [12, 16 MiB)
      [64 * MIB, 1], // [64, 128 MiB): 32 replicas
      [64 * KIB, 32], // [128, 130 MiB): 16 replicas each, in a level-1 table
      [8 * KIB, 64], // then 2 replicas each
      [4096, 64],
    ];
    let at = 0;
    for (const [leaf, count] of layout) {
      at = Math.ceil(at / leaf) * leaf;
      pt.map(at, leaf * count, { leaf });
      model.map(at / 4096, (at + leaf * count) / 4096, leaf / 4096, true);
      at += leaf * count;
    }
    pt.setDirtyTracking(true);
    model.tracking = true;
    // Replica 1 of the first 4 MiB page, the last replica of the 64 MiB page, a middle replica of
    // a 64 KiB page, a 2 MiB single-entry page and an 8 KiB page's second replica.
    for (const x of [4 * MIB + 2 * MIB + 7, 64 * MIB + 63 * MIB, 128 * MIB + 64 * KIB + 20 * KIB, 12 * MIB, 130 * MIB + 8 * KIB + 4096]) {
      expect(pt.dmaWrite(x, 1)).toBe(model.write(Math.floor(x / 4096), Math.floor(x / 4096) + 1));
    }
    const end = BigInt(at);
    const bm = bitmapOver(0n, end);
    // Chunk edges between the replicas of a page (its head's chunk records it), and one chunk
    // that starts in the middle of the 64 MiB page.
    const cuts = [5n * MiB, 6n * MiB, 13n * MiB, 96n * MiB, 128n * MiB + 70n * 1024n, 130n * MiB + 4096n, end];
    let from = 0n;
    let dirtyLeaves = 0;
    for (const c of cuts) {
      dirtyLeaves += pt.reportChunk(bm, { chunkLo: from, chunkHi: c, clipLo: 0n, clipHi: end }).dirtyLeaves;
      from = c;
    }
    expect(dirtyLeaves).toBe(5);
    expect(bitRuns(bm)).toEqual(bitsOfPageRuns(bm, model.report(0, Number(end / 4096n), false)));
    expect(dirtyLeft(pt, end)).toBe(0);
  });
});
