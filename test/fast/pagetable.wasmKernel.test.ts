/**
 * The WebAssembly skip over clean blocks of the 4 KiB-leaf walk (core's pagetable/leafSkipKernel):
 * - its committed bytes are the compile of its text (scripts/build-wasm.mjs --check);
 * - `skip` and `skipSmmu` against a JavaScript reference, on random words, ranges and bit sets, and an
 *   offset past its memory traps instead of reading elsewhere;
 * - the walk with it (the table's owner, and views, which take their thread's instances for the
 *   table) equals the walk without it (a view whose descriptor has no `memories` prescans in
 *   JavaScript), bit for bit in the bitmap and in the table it leaves, for every PTE format,
 *   random block patterns and report ranges, with and without clear, and over a table of several
 *   segments (several instances);
 * - share() hands the memories on, and structuredClone (what postMessage does) keeps them.
 */
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IoPageTable, IovaBitmap, type PteFormat } from '@iovabitmap/core';
import { leafSkipFor, newSegmentMemory, wasmSegments } from '@iovabitmap/core/internal';
import { HookedBitmap, PTE_FORMATS, bitRuns, failingBitmap, snapshotTable } from './helpers/pagetableHelpers.js';

const ROOT = new URL('../../', import.meta.url);
const TABLE_PAGES = 4096; // 8 leaf tables of 512 entries: 128 blocks of 32

describe('the leaf skip kernel', () => {
  it('is committed as the compile of its .wat (scripts/build-wasm.mjs --check)', () => {
    const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('finds the first block with a bit of `bits` (skip) or a dirty smmu-v3 entry (skipSmmu), as a JavaScript reference does', () => {
    const bytes = 2 * 65536;
    const memory = newSegmentMemory(bytes)!;
    expect(memory).toBeDefined();
    const skips = leafSkipFor(memory)!;
    const w = new Int32Array(memory.buffer);
    const blocks = bytes / 256;
    /** The first block in [p, e) where `test` of one of its low words is non-zero, or e. */
    const reference = (p: number, e: number, test: (v: number) => number): number => {
      for (let q = p; q < e; q += 256) {
        for (let j = 0; j < 32; j++) if (test(w[(q >> 2) + 2 * j]!) !== 0) return q;
      }
      return e;
    };
    fc.assert(
      fc.property(
        fc.array(fc.record({ word: fc.nat({ max: w.length - 1 }), value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) }), { maxLength: 40 }),
        fc.nat({ max: blocks }),
        fc.nat({ max: blocks }),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        (writes, x, y, bits) => {
          w.fill(0x1081); // an address bit, valid (bit 0), AP[2] (bit 7): clean in every format
          for (const { word, value } of writes) w[word] = value;
          const [p, e] = [Math.min(x, y) * 256, Math.max(x, y) * 256];
          expect(skips.bit(p, e, bits)).toBe(reference(p, e, (v) => v & bits));
          expect(skips.smmu(p, e)).toBe(reference(p, e, (v) => v & ~(v >>> 7) & 1));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('scanTable writes the masks of the dirty entries of a table range, edges masked, and clearPairs clears exactly them', () => {
    const memory = newSegmentMemory(65536)!;
    const k = leafSkipFor(memory)!;
    const w = new Int32Array(memory.buffer);
    const OUT = 60 * 1024; // scratch, past the one table the property writes (bytes 0-4095)
    const dbit = 9;
    const D = 1 << dbit;
    /** The mask of the block at byte q: bit j = entry j dirty. */
    const maskOf = (q: number): number => {
      let m = 0;
      for (let j = 0; j < 32; j++) if ((w[(q >> 2) + 2 * j]! & D) !== 0) m |= 1 << j;
      return m;
    };
    /** The block state after a block of mask m: at most one dirty entry SCAN (0), all FULL (2), else DENSE (1). */
    const stateOf = (m: number): number => ((m & (m - 1)) === 0 ? 0 : m === -1 ? 2 : 1);
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('clean', 'one', 'half', 'full'), { minLength: 16, maxLength: 16 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.nat({ max: 511 }),
        fc.nat({ max: 511 }),
        fc.integer({ min: 0, max: 2 }),
        (kinds, salt, x, y, st) => {
          for (let i = 0; i < 512; i++) {
            const kind = kinds[i >> 5]!;
            const dirty = kind === 'full' || (kind === 'one' && (i & 31) === salt % 32) || (kind === 'half' && ((salt ^ (i * 2654435761)) >>> 9) % 2 === 1);
            w[2 * i] = (0x80000000 | (i << 12) | 3 | (dirty ? D : 0)) | 0; // bit 31 set, as real addresses above 2 GiB
            w[2 * i + 1] = salt & 0xfffff;
          }
          const [i0, i1] = [Math.min(x, y), Math.max(x, y) + 1];
          const fm = -1 << (i0 & 31);
          const lm = (i1 & 31) === 0 ? -1 : (1 << (i1 & 31)) - 1;
          const p = (i0 & ~31) * 8;
          const e = ((i1 + 31) & ~31) * 8;
          const pairs: [number, number][] = [];
          let state = st;
          for (let q = p; q < e; q += 256) {
            let m = maskOf(q);
            if (q === p) m &= fm;
            if (q + 256 === e) m &= lm;
            state = stateOf(m);
            if (m !== 0) pairs.push([q, m]);
          }
          const before = w.slice(0, 1024);
          const r = k.table(p, e, dbit, OUT, st, fm, lm);
          expect(r >>> 2).toBe(pairs.length);
          expect(r & 3).toBe(state);
          const got: [number, number][] = [];
          for (let j = 0; j < pairs.length; j++) got.push([w[(OUT >> 2) + 2 * j]!, w[(OUT >> 2) + 2 * j + 1]!]);
          expect(got).toEqual(pairs);
          /** The first word of the table that differs from `want`, or -1. */
          const firstDiff = (want: Int32Array): number => want.findIndex((v, i) => w[i] !== v);
          expect(firstDiff(before)).toBe(-1); // the table pass only reads
          k.clearPairs(OUT, pairs.length, dbit);
          const after = before.map((v, i) => ((i & 1) === 0 && i >> 1 >= i0 && i >> 1 < i1 ? v & ~D : v));
          expect(firstDiff(after)).toBe(-1); // exactly the dirty bits of [i0, i1), nothing else
        },
      ),
      { numRuns: 300 },
    );
  });

  it('traps on an offset past its memory instead of reading another one', () => {
    const memory = newSegmentMemory(65536)!;
    const skips = leafSkipFor(memory)!;
    expect(skips.bit(65536 - 256, 65536, 512)).toBe(65536);
    expect(() => skips.bit(65536, 65536 + 256, 512)).toThrow(/out of bounds/);
    expect(() => skips.smmu(65536, 65536 + 256)).toThrow(/out of bounds/);
    expect(() => skips.table(65536, 65536 + 256, 9, 0, 0, -1, -1)).toThrow(/out of bounds/);
    new Int32Array(memory.buffer).set([65536, -1]); // a pair naming a block past the memory
    expect(() => skips.clearPairs(0, 1, 9)).toThrow(/out of bounds/);
  });
});

type BlockKind = 'clean' | 'one' | 'half' | 'full' | 'replica';

/** A table of 4 KiB leaves over [0, TABLE_PAGES) dirtied by block, then 1 MiB of other leaves (one page dirty with 'replica'). */
function patternTable(format: PteFormat, blocks: readonly BlockKind[], salt: number): IoPageTable {
  const pt = new IoPageTable({ format });
  pt.map(0, TABLE_PAGES * 4096, { leaf: 4096 });
  // past the 4 KiB leaves, 1 MiB more: replicated amd-v1 leaves of 64 KiB (16 entries) and 512 KiB
  // (128 entries: 4 blocks), 4 KiB leaves elsewhere
  if (format === 'amd-v1') {
    pt.map(TABLE_PAGES * 4096, 512 * 1024, { leaf: 64 * 1024 });
    pt.map((TABLE_PAGES + 128) * 4096, 512 * 1024, { leaf: 512 * 1024 });
  } else {
    pt.map(TABLE_PAGES * 4096, 1024 * 1024, { leaf: 4096 });
  }
  pt.setDirtyTracking(true);
  for (let p = 0; p < TABLE_PAGES; p++) {
    const kind = blocks[(p >>> 5) % blocks.length]!;
    const j = p & 31;
    const dirty = kind === 'full' || (kind === 'one' && j === (salt + p) % 32) || (kind === 'half' && ((salt * 2654435761 + p) >>> 7) % 2 === 1);
    if (dirty) pt.dmaWritePages(p, 1);
  }
  if (blocks.includes('replica')) pt.dmaWritePages(TABLE_PAGES + (salt % 256), 1);
  return pt;
}

/**
 * Walks pages [a, b) of `owner`'s table once through each of `walkers` (the owner or views of
 * it), each from the table as it is now (restored before every walk), into a fresh bitmap of
 * `pages` pages; returns, per walker, the bitmap's runs and the table's bytes after its walk.
 */
function walkEach(owner: IoPageTable, walkers: readonly IoPageTable[], pages: number, a: number, b: number, noClear: boolean): [number[][], string][] {
  const before = snapshotTable(owner);
  const d = owner.share();
  return walkers.map((t) => {
    [d.control, ...d.segments].forEach((buf, i) => new Uint8Array(buf).set(before[i]!));
    const bm = new IovaBitmap({ iova: 0, length: pages * 4096, pageSize: 4096 });
    t.readAndClearDirty(bm, BigInt(a) * 4096n, BigInt(b - a) * 4096n, { noClear });
    return [bitRuns(bm), Buffer.concat(snapshotTable(owner)).toString('base64')];
  });
}

describe('a table of many segments', () => {
  it('walks every segment with the skip (the owner, and views) exactly as a view without memories walks it in JavaScript', () => {
    const pages = 400 * 512; // 400 leaf tables, in segments 0 to 3
    const pt = new IoPageTable({ format: 'vtd-ss' });
    pt.map(0, pages * 4096, { leaf: 4096 });
    pt.setDirtyTracking(true);
    for (let p = 7; p < pages; p += 997) pt.dmaWritePages(p, 1 + (p % 3));
    expect(wasmSegments(pt)).toBeGreaterThanOrEqual(4);
    const [viaJs, ...withSkip] = walkEach(
      pt,
      [
        IoPageTable.fromShared({ ...pt.share(), memories: undefined }),
        pt,
        IoPageTable.fromShared(structuredClone(pt.share())), // this thread's instances for the table
        IoPageTable.fromShared(structuredClone(pt.share())), // the same instances again
      ],
      pages,
      0,
      pages,
      false,
    );
    expect(viaJs![0].length).toBeGreaterThan(150);
    for (const r of withSkip) {
      expect(r[0]).toEqual(viaJs![0]);
      expect(r[1] === viaJs![1]).toBe(true);
    }
  });
});

describe.each(PTE_FORMATS)('the %s walk with and without the WebAssembly skip', (format) => {
  it('allocates its segments as WebAssembly memories and shares them, through structuredClone too', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 64 * 1024 * 1024, { leaf: 4096 });
    const d = pt.share();
    expect(wasmSegments(pt)).toBe(d.segments.length);
    expect(d.memories!.every((m, s) => m !== null && m.buffer === d.segments[s])).toBe(true);
    expect(wasmSegments(IoPageTable.fromShared(structuredClone(d)))).toBe(d.segments.length);
    expect(wasmSegments(IoPageTable.fromShared({ ...d, memories: undefined }))).toBe(0);
  });

  it('reports and leaves the same bits for any block pattern and range', () => {
    const pages = TABLE_PAGES + 256;
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<BlockKind>('clean', 'clean', 'clean', 'one', 'half', 'full', 'replica'), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.nat({ max: pages - 1 }),
        fc.nat({ max: pages - 1 }),
        fc.boolean(),
        (blocks, salt, x, y, noClear) => {
          const pt = patternTable(format, blocks, salt);
          const plain = IoPageTable.fromShared({ ...pt.share(), memories: undefined }); // the JavaScript prescan
          const [viaJs, viaWasm] = walkEach(pt, [plain, pt], pages, Math.min(x, y), Math.max(x, y) + 1, noClear);
          expect(viaWasm![0]).toEqual(viaJs![0]);
          expect(viaWasm![1] === viaJs![1]).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('the scratch slots of the vtd-ss table pass (the last page of every segment)', () => {
  const MIB = 1024 * 1024;
  /** The claim words of every segment's scratch page (its first 32 words; word 0 unused). */
  const claims = (pt: IoPageTable): Int32Array[] => pt.share().segments.map((b) => new Int32Array(b, b.byteLength - 4096, 32));
  /** A vtd-ss table of 4 KiB leaves over [0, mib MiB), every third page dirty, and every page of [1, 1.25) MiB. */
  const dirtyTable = (mib: number): IoPageTable => {
    const pt = new IoPageTable({ format: 'vtd-ss' });
    pt.map(0, mib * MIB, { leaf: 4096 });
    pt.setDirtyTracking(true);
    for (let p = 0; p < mib * 256; p += 3) pt.dmaWritePages(p, 1);
    pt.dmaWritePages(256, 64);
    return pt;
  };

  it('are released when a walk ends, and when its record throws', () => {
    const pt = dirtyTable(8);
    pt.readAndClearDirty(new IovaBitmap({ iova: 0, length: 8 * MIB, pageSize: 4096 }), 0, 8 * MIB, { noClear: true });
    expect(claims(pt).every((c) => c.every((x) => x === 0))).toBe(true);
    expect(() => pt.readAndClearDirty(failingBitmap({ iova: 0, length: 8 * MIB, pageSize: 4096 }, 3), 0, 8 * MIB)).toThrow('injected');
    expect(claims(pt).every((c) => c.every((x) => x === 0))).toBe(true);
  });

  it('when all are taken, the walk takes the kernels that need none, with the same result', () => {
    const pt = dirtyTable(8);
    const d = pt.share();
    const before = snapshotTable(pt);
    /** Walks pages [5, 2041) through `t` from the table as `before`, with all slots taken or not. */
    const walk = (t: IoPageTable, taken: boolean): [number[][], string] => {
      [d.control, ...d.segments].forEach((buf, i) => new Uint8Array(buf).set(before[i]!));
      if (taken) for (const c of claims(pt)) c.fill(1, 1);
      const bm = new IovaBitmap({ iova: 0, length: 8 * MIB, pageSize: 4096 });
      t.readAndClearDirty(bm, 5n * 4096n, 2036n * 4096n);
      if (taken) expect(claims(pt).every((c) => c.subarray(1).every((x) => x === 1))).toBe(true); // nobody else's released
      return [bitRuns(bm), Buffer.concat(snapshotTable(pt)).toString('base64')];
    };
    const viaJs = walk(IoPageTable.fromShared({ ...d, memories: undefined }), false);
    const taken = walk(pt, true);
    expect(taken[0]).toEqual(viaJs[0]);
    expect(taken[1] === viaJs[1]).toBe(true);
    for (const c of claims(pt)) c.fill(0);
  });

  it('keep a walk nested in another one\'s record (same thread, same segment) from overwriting its pairs', () => {
    // The outer walk records table 0 into a bitmap whose first write walks table 1 (same segment):
    // were the two walks given one slot, the inner one's pairs would replace the outer one's
    // between its record and its clear.
    const pt = dirtyTable(4);
    const expectOf = (a: number, b: number): IovaBitmap => {
      const t = IoPageTable.fromShared({ ...pt.share(), memories: undefined });
      const bm = new IovaBitmap({ iova: 0, length: 4 * MIB, pageSize: 4096 });
      t.readAndClearDirty(bm, a, b - a, { noClear: true });
      return bm;
    };
    const wantOuter = expectOf(0, 2 * MIB);
    const wantInner = expectOf(2 * MIB, 4 * MIB);
    const inner = new IovaBitmap({ iova: 0, length: 4 * MIB, pageSize: 4096 });
    const outer = new HookedBitmap({ iova: 0, length: 4 * MIB, pageSize: 4096 });
    let nested = false;
    outer.hook = () => {
      if (nested) return;
      nested = true;
      pt.readAndClearDirty(inner, 2 * MIB, 2 * MIB);
    };
    pt.readAndClearDirty(outer, 0, 2 * MIB);
    expect(nested).toBe(true);
    expect(bitRuns(outer)).toEqual(bitRuns(wantOuter));
    expect(bitRuns(inner)).toEqual(bitRuns(wantInner));
    const after = new IovaBitmap({ iova: 0, length: 4 * MIB, pageSize: 4096 });
    pt.readAndClearDirty(after, 0, 4 * MIB, { noClear: true });
    expect(after.count()).toBe(0); // both cleared exactly what they recorded
  });
});
