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
import { PTE_FORMATS, bitRuns, snapshotTable } from './helpers/pagetableHelpers.js';

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

  it('traps on an offset past its memory instead of reading another one', () => {
    const memory = newSegmentMemory(65536)!;
    const skips = leafSkipFor(memory)!;
    expect(skips.bit(65536 - 256, 65536, 512)).toBe(65536);
    expect(() => skips.bit(65536, 65536 + 256, 512)).toThrow(/out of bounds/);
    expect(() => skips.smmu(65536, 65536 + 256)).toThrow(/out of bounds/);
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
