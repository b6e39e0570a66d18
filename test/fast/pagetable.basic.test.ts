import { describe, expect, it } from 'vitest';
import { IovaBitmap } from '@iovabitmap/core';
import { HookedBitmap, failingBitmap, IoPageTable, PTE_FORMATS, snapshotTable, sameTable } from './helpers/pagetableHelpers.js';
import { GIB, GiB, KIB, MIB, MiB } from '../helpers/sizes.js';
import { pagesOf } from '../helpers/bitmaps.js';
const bitmapOver = (iova: number, length: number, pageSize = 4096) => new IovaBitmap({ iova, length, pageSize });

describe.each(PTE_FORMATS)('IoPageTable %s', (format) => {
  it('records each dirty 4 KiB leaf once, then reads clean', () => {
    const pt = new IoPageTable({ format });
    pt.map(16 * MIB, 4 * MIB, { leaf: 4096 });
    pt.setDirtyTracking(true);
    expect(pt.dmaWrite(16 * MIB + 3 * 4096, 2 * 4096)).toBe(2);
    expect(pt.dmaWrite(16 * MIB + 100 * 4096 + 10, 1)).toBe(1);
    const bm = bitmapOver(16 * MIB, 4 * MIB);
    const st = pt.readAndClearDirty(bm, 16 * MIB, 4 * MIB);
    expect([...pagesOf(bm)].map((p) => p - 4096)).toEqual([3, 4, 100]);
    expect(st).toMatchObject({ dirtyLeaves: 3, bitsMarked: 3 });
    const again = bitmapOver(16 * MIB, 4 * MIB);
    expect(pt.readAndClearDirty(again, 16 * MIB, 4 * MIB).dirtyLeaves).toBe(0);
    expect(again.count()).toBe(0);
  });

  it('records a huge leaf clipped to the range and clears it whole', () => {
    const pt = new IoPageTable({ format });
    pt.map(2 * GIB, 8 * MIB, { leaf: 2 * MIB });
    pt.setDirtyTracking(true);
    expect(pt.dmaWrite(2 * GIB + 2 * MIB + 5, 1)).toBe(1);
    const bm = bitmapOver(2 * GIB, 8 * MIB);
    pt.readAndClearDirty(bm, 2 * GIB + 3 * MIB, 4 * MIB);
    const pages = [...pagesOf(bm)];
    expect(pages.length).toBe(256); // [3 MiB, 4 MiB) of the leaf [2 MiB, 4 MiB)
    expect(pages[0]).toBe((2 * GIB + 3 * MIB) / 4096);
    const again = bitmapOver(2 * GIB, 8 * MIB);
    pt.readAndClearDirty(again, 2 * GIB, 8 * MIB);
    expect(again.count()).toBe(0);
  });

  it('never marks read-only mappings', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 2 * MIB, { leaf: 4096, writable: false });
    pt.map(2 * MIB, 2 * MIB, { leaf: 2 * MIB, writable: false });
    pt.setDirtyTracking(true);
    expect(pt.dmaWrite(0, 4 * MIB)).toBe(0);
    const bm = bitmapOver(0, 4 * MIB);
    expect(pt.readAndClearDirty(bm, 0, 4 * MIB).dirtyLeaves).toBe(0);
    expect(bm.count()).toBe(0);
  });

  it('marks nothing while tracking is off, and enabling takes a clean snapshot', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 1 * MIB, { leaf: 4096 });
    expect(pt.dirtyTracking).toBe(false);
    expect(pt.dmaWrite(0, 4096)).toBe(0);
    pt.setDirtyTracking(true);
    pt.dmaWrite(0, 64 * KIB);
    pt.setDirtyTracking(false);
    expect(pt.dmaWrite(64 * KIB, 4096)).toBe(0);
    pt.setDirtyTracking(true); // clears the 16 dirty leaves
    const bm = bitmapOver(0, MIB);
    pt.readAndClearDirty(bm, 0, MIB);
    expect(bm.count()).toBe(0);
  });

  it('leaves the dirty state alone with noClear', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 1 * MIB, { leaf: 4096 });
    pt.setDirtyTracking(true);
    pt.dmaWrite(8192, 4096 * 33);
    const a = bitmapOver(0, MIB);
    const b = bitmapOver(0, MIB);
    pt.readAndClearDirty(a, 0, MIB, { noClear: true });
    pt.readAndClearDirty(b, 0, MIB);
    expect(a.count()).toBe(33);
    expect(b.equals(a)).toBe(true);
  });

  it('keeps PTEs dirty when the bitmap write fails (record before clear)', () => {
    for (const [leaf, pageSize] of [[4096, 4096], [4096, 2048], [2 * MIB, 4096]] as const) {
      const pt = new IoPageTable({ format });
      pt.map(0, 64 * MIB, { leaf });
      pt.setDirtyTracking(true);
      // Two far-apart dirty groups: the first record succeeds, the second throws.
      pt.dmaWrite(0, 4096);
      pt.dmaWrite(32 * MIB, 4096);
      const failing = failingBitmap({ iova: 0, length: 64 * MIB, pageSize }, 1);
      expect(() => pt.readAndClearDirty(failing, 0, 64 * MIB)).toThrow('injected');
      const retry = bitmapOver(0, 64 * MIB, pageSize);
      pt.readAndClearDirty(retry, 0, 64 * MIB);
      // The leaf at 32 MiB was not recorded, so it must still be dirty; the one at 0 was cleared.
      expect(retry.test(32 * MIB)).toBe(true);
      expect(retry.test(0)).toBe(false);
      expect(failing.test(0)).toBe(true);
    }
  });

  it('keeps a mark made between the walk\'s read and its clear (only what was seen is cleared)', () => {
    // The "device" writes once, while the walk records the leaf at 0: into the same 32-entry
    // block (4 KiB leaves, or 2 MiB ones, whose block the walk reads before it visits the busy
    // entries: read before the mark, so it must survive to the next report), into another
    // replica of the same page (amd-v1 64 KiB; likewise), or into a leaf of the next block
    // (2 MiB at 64 MiB: not read yet, so this walk reports it).
    const cases = [
      { leaf: 4096, other: 4096, laterReport: true, thisReport: false },
      { leaf: 2 * MIB, other: 2 * MIB, laterReport: true, thisReport: false },
      { leaf: 2 * MIB, other: 64 * MIB, laterReport: false, thisReport: true },
      // The page of the leaf at 0 itself: this report has it, and the replica's mark survives.
      ...(format === 'amd-v1' ? [{ leaf: 64 * KIB, other: 4096, laterReport: true, thisReport: true }] : []),
    ];
    for (const { leaf, other, laterReport, thisReport } of cases) {
      const pt = new IoPageTable({ format });
      pt.map(0, 128 * MIB, { leaf });
      pt.setDirtyTracking(true);
      pt.dmaWrite(0, 1);
      const bm = new HookedBitmap({ iova: 0, length: 128 * MIB, pageSize: 4096 });
      let marked = -1;
      bm.hook = () => {
        if (marked < 0) marked = pt.dmaWrite(other, 1);
      };
      pt.readAndClearDirty(bm, 0, 128 * MIB);
      expect(marked).toBe(1);
      const next = bitmapOver(0, 128 * MIB);
      pt.readAndClearDirty(next, 0, 128 * MIB);
      expect(next.test(other)).toBe(laterReport);
      expect(bm.test(other)).toBe(thisReport);
    }
  });

  it('frees tables emptied by unmap', () => {
    const pt = new IoPageTable({ format });
    pt.map(GIB, 8 * MIB, { leaf: 4096 });
    pt.map(512 * GIB, 2 * GIB, { leaf: GIB });
    expect(pt.memoryStats()).toMatchObject({ tablePages: 1 + 2 + 4 + 1, leaves: 2048 + 2, mappedBytes: BigInt(8 * MIB + 2 * GIB) });
    pt.unmap(GIB, 4 * MIB);
    expect(pt.memoryStats().tablePages).toBe(1 + 2 + 2 + 1);
    pt.unmap(0, 1024 * GIB);
    expect(pt.memoryStats()).toMatchObject({ tablePages: 1, leaves: 0, mappedBytes: 0n });
  });

  it('shares memory with views; views may walk and write but not map', () => {
    const pt = new IoPageTable({ format, name: 'io0' });
    pt.map(0, 2 * MIB, { leaf: 4096 });
    const d = pt.share();
    const view = IoPageTable.fromShared(structuredClone(d));
    expect(view.name).toBe('io0');
    expect(() => view.map(4 * MIB, 4096, { leaf: 4096 })).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP' }));
    view.setDirtyTracking(true);
    expect(pt.dirtyTracking).toBe(true);
    expect(view.dmaWrite(4096, 4096)).toBe(1);
    const bm = bitmapOver(0, 2 * MIB);
    pt.readAndClearDirty(bm, 0, 2 * MIB);
    expect([...pagesOf(bm)]).toEqual([1]);
    expect(view.memoryStats()).toMatchObject({ leaves: 512, mappedBytes: BigInt(2 * MIB) });
  });

  it('says in its descriptor which mapped areas are writable, through map, unmap and a view', () => {
    const pt = new IoPageTable({ format });
    const pages = (bytes: number): number => bytes / 4096;
    pt.map(0, 4 * MIB, { leaf: 4096 });
    pt.map(4 * MIB, 4 * MIB, { leaf: 2 * MIB, writable: false });
    pt.map(8 * MIB, 2 * MIB, { leaf: 2 * MIB, writable: true });
    pt.map(16 * MIB, 4096, { leaf: 4096, writable: false });
    let d = pt.share();
    expect([...d.areas]).toEqual([0, pages(10 * MIB), pages(16 * MIB), pages(16 * MIB) + 1]);
    expect([...d.writableAreas]).toEqual([0, pages(4 * MIB), pages(8 * MIB), pages(10 * MIB)]);
    pt.unmap(MIB, MIB);
    pt.unmap(8 * MIB, 2 * MIB);
    d = pt.share();
    expect([...d.writableAreas]).toEqual([0, pages(MIB), pages(2 * MIB), pages(4 * MIB)]);
    expect([...IoPageTable.fromShared(structuredClone(d)).share().writableAreas]).toEqual([...d.writableAreas]);
  });

  it('reaches segments created after an earlier share() from a later one', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 4096, { leaf: 4096 });
    pt.setDirtyTracking(true);
    const early = IoPageTable.fromShared(pt.share());
    pt.map(GIB, 512 * MIB, { leaf: 4096 }); // 256+ new table pages: new segments
    expect(pt.share().segments.length).toBeGreaterThan(1);
    const late = IoPageTable.fromShared(pt.share());
    expect(late.dmaWrite(GIB + 500 * MIB, 4096)).toBe(1);
    const bm = bitmapOver(GIB, 512 * MIB);
    const chunk = { chunkLo: GiB, chunkHi: GiB + 512n * MiB, clipLo: GiB, clipHi: GiB + 512n * MiB };
    expect(() => early.reportChunk(bm, chunk)).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(late.readAndClearDirty(bm, GIB, 512 * MIB).dirtyLeaves).toBe(1);
  });

  it('walks a 5-level table at the top of the 57-bit space', () => {
    const pt = new IoPageTable({ format, levels: 5 });
    const top = 2n ** 57n - 4n * GiB;
    pt.map(top, 4n * GiB, { leaf: GIB });
    pt.setDirtyTracking(true);
    expect(pt.dmaWrite(top + 3n * GiB, 1)).toBe(1);
    const bm = new IovaBitmap({ iova: top, length: 4n * GiB, pageSize: 2n * MiB });
    pt.readAndClearDirty(bm, top, 4n * GiB);
    expect(bm.count()).toBe(512);
    expect(bm.test(top + 3n * GiB)).toBe(true);
    expect(() => new IoPageTable({ format }).map(top, 4096, { leaf: 4096 })).toThrow(expect.objectContaining({ code: 'EOVERFLOW' }));
  });

  it('skips absent subtrees: cost follows what is mapped', () => {
    const pt = new IoPageTable({ format });
    pt.map(0, 2 * MIB, { leaf: 4096 });
    pt.map(200n * 1024n * GiB, 2 * MIB, { leaf: 4096 });
    pt.setDirtyTracking(true);
    const bm = new IovaBitmap({ iova: 0, length: 1n << 48n, pageSize: 1n << 30n });
    const st = pt.reportChunk(bm, { chunkLo: 0n, chunkHi: 1n << 48n, clipLo: 0n, clipHi: 1n << 48n });
    // Root 512 + two paths of (512 + 512 + 512) entries: the empty 510 subtrees cost one read each.
    expect(st.entriesVisited).toBe(512 + 2 * 3 * 512 + 4); // + the head-leaf lookup of clipLo
    const before = snapshotTable(pt);
    pt.reportChunk(bm, { chunkLo: 0n, chunkHi: 1n << 48n, clipLo: 0n, clipHi: 1n << 48n }, { noClear: true });
    expect(sameTable(pt, before)).toBe(true);
  });
});

describe('IoPageTable PTE bits', () => {
  // First mapping at IOVA 0 with 4 KiB leaves: pages 0 (root), 1 (L3), 2 (L2), 3 (L1).
  const leafWords = (pt: IoPageTable, i: number) => {
    const u32 = new Uint32Array(pt.share().segments[0]!);
    return [u32[3 * 1024 + 2 * i]!, u32[3 * 1024 + 2 * i + 1]!] as const;
  };
  it('vtd-ss sets and clears bit 9 and keeps R/W', () => {
    const pt = new IoPageTable({ format: 'vtd-ss' });
    pt.map(0, 8192, { leaf: 4096 });
    pt.setDirtyTracking(true);
    pt.dmaWrite(4096, 1);
    expect(leafWords(pt, 1)[0] & 0x203).toBe(0x203);
    expect(leafWords(pt, 0)[0] & 0x203).toBe(0x003);
    pt.readAndClearDirty(bitmapOver(0, 8192), 0, 8192);
    expect(leafWords(pt, 1)[0] & 0x203).toBe(0x003);
  });
  it('amd-v1 sets and clears bit 6 with PR and IW (bit 62)', () => {
    const pt = new IoPageTable({ format: 'amd-v1' });
    pt.map(0, 8192, { leaf: 4096 });
    pt.setDirtyTracking(true);
    pt.dmaWrite(4096, 1);
    const [lo, hi] = leafWords(pt, 1);
    expect(lo & 0x41).toBe(0x41);
    expect((hi >>> 30) & 1).toBe(1);
    pt.readAndClearDirty(bitmapOver(0, 8192), 0, 8192);
    expect(leafWords(pt, 1)[0] & 0x41).toBe(0x01);
  });
  it('smmu-v3 clears AP[2] on write (DBM set) and sets it back on clear', () => {
    const pt = new IoPageTable({ format: 'smmu-v3' });
    pt.map(0, 8192, { leaf: 4096 });
    pt.setDirtyTracking(true);
    expect((leafWords(pt, 1)[1] >>> 19) & 1).toBe(1); // DBM
    expect(leafWords(pt, 1)[0] & 0x83).toBe(0x83); // valid page, AP[2]=1: writable-clean
    pt.dmaWrite(4096, 1);
    expect(leafWords(pt, 1)[0] & 0x83).toBe(0x03); // dirty
    pt.readAndClearDirty(bitmapOver(0, 8192), 0, 8192);
    expect(leafWords(pt, 1)[0] & 0x83).toBe(0x83);
  });
  it('amd-v1 ORs the dirty bits of replicated PTEs and clears them all', () => {
    const pt = new IoPageTable({ format: 'amd-v1' });
    pt.map(0, 2 * MIB, { leaf: 32 * KIB }); // 8 replicas per page
    pt.setDirtyTracking(true);
    expect(pt.dmaWrite(40 * KIB, 20 * KIB)).toBe(1); // pages 10..14: replicas 2..6 of leaf 1
    const dirtyReplicas = () => [8, 9, 10, 11, 12, 13, 14, 15].filter((i) => (leafWords(pt, i)[0] & 0x40) !== 0);
    expect(dirtyReplicas()).toEqual([10]);
    expect(leafWords(pt, 8)[0] >>> 9 & 7).toBe(7); // NextLevel 7
    const bm = bitmapOver(0, 2 * MIB);
    expect(pt.readAndClearDirty(bm, 0, 2 * MIB).dirtyLeaves).toBe(1);
    expect([...pagesOf(bm)]).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(dirtyReplicas()).toEqual([]);
  });
});

describe('IoPageTable amd-v1 replicated pages cut by a report range', () => {
  it('finds a page whose only dirty replica lies past the range end', () => {
    const pt = new IoPageTable({ format: 'amd-v1' });
    pt.map(0, MIB, { leaf: 4096 });
    pt.map(MIB, MIB, { leaf: MIB }); // 256 replicas, entries 256..511
    pt.setDirtyTracking(true);
    pt.dmaWrite(MIB + 900 * KIB, 1); // replica 225 of the page
    const bm = bitmapOver(0, 2 * MIB);
    expect(pt.readAndClearDirty(bm, 0, MIB + 4096).dirtyLeaves).toBe(1);
    expect([...pagesOf(bm)]).toEqual([256]); // clipped to the range
    expect(pt.readAndClearDirty(bitmapOver(0, 2 * MIB), MIB, MIB).dirtyLeaves).toBe(0); // cleared whole
  });

  it('finds a page cut by the range start only from the chunk that holds the start', () => {
    const pt = new IoPageTable({ format: 'amd-v1' });
    pt.map(0, 4 * MIB, { leaf: 4 * MIB }); // 2 replicas at level 2
    pt.setDirtyTracking(true);
    pt.dmaWrite(4096, 1); // replica 0
    const bm = bitmapOver(0, 4 * MIB);
    const clip = { clipLo: 3n * MiB, clipHi: 4n * MiB };
    expect(pt.reportChunk(bm, { chunkLo: 3n * MiB + 4096n, chunkHi: 4n * MiB, ...clip }).dirtyLeaves).toBe(0);
    expect(pt.reportChunk(bm, { chunkLo: 3n * MiB, chunkHi: 3n * MiB + 4096n, ...clip }).dirtyLeaves).toBe(1);
    expect(bm.count()).toBe(256);
  });
});

describe('IoPageTable memory', () => {
  it('fits 1 TiB of 2 MiB leaves and 64 GiB of 4 KiB leaves in the documented bytes', () => {
    const big = new IoPageTable({ format: 'vtd-ss' });
    big.map(0, 1024n * GiB, { leaf: 2 * MIB });
    const a = big.memoryStats();
    expect(a.tableBytes).toBe((1 + 2 + 1024) * 4096); // root, 2 L3, 1024 L2: 4 KiB per GiB
    const small = new IoPageTable({ format: 'vtd-ss' });
    small.map(0, 64n * GiB, { leaf: 4096 });
    const b = small.memoryStats();
    expect(b.tableBytes).toBe((1 + 1 + 64 + 64 * 512) * 4096); // 2 MiB + 4 KiB per GiB
    expect(b.reservedBytes).toBeLessThan(b.tableBytes * 1.5);
    expect(b.leaves).toBe(64 * 262144);
  });
});
